//go:build unix

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// TestNoCredentialsInLogs drives one server through every flow that
// handles a credential, successful and failed, at debug level so that
// nothing is filtered out, then stops it gracefully so that the log is
// complete (shutdown flushes included), and searches the whole log for
// every secret and token that went over the wire. Every other test checks
// its own server the same way in cleanup; this one maximises what there is
// to leak.
func TestNoCredentialsInLogs(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			testNoCredentialsInLogs(t, format)
		})
	}
}

// basicB64 is the base64 part of a Basic Authorization value.
func basicB64(id, secret string) string {
	return strings.TrimPrefix(testkit.Basic(id, secret), "Basic ")
}

func testNoCredentialsInLogs(t *testing.T, format string) {
	s := startServer(t, serverOpts{env: []string{"GATEHOUSE_LOG_LEVEL=debug", "GATEHOUSE_LOG_FORMAT=" + format}})
	var creds []string // everything that must not be in the log
	note := func(c ...string) { creds = append(creds, c...) }

	boot := s.bootstrapCreds(t)
	note(boot.ClientSecret, basicB64(boot.ClientID, boot.ClientSecret))
	adminTR := s.token(t, boot.ClientID, boot.ClientSecret)
	admin := adminTR.AccessToken
	note(admin, adminTR.IDToken)

	// A client_secret_basic client through its life.
	a := s.createClient(t, admin, "basic")
	note(a.ClientSecret)
	aTR := s.token(t, a.ClientID, a.ClientSecret)
	note(aTR.AccessToken, aTR.IDToken)
	newA := s.regenerate(t, admin, a.ClientID)
	note(newA)
	// The old token is now revoked: using it goes through the failure path.
	if _, status := s.getClient(t, aTR.AccessToken, a.ClientID); status != http.StatusUnauthorized {
		t.Errorf("revoked token: %d, want 401", status)
	}
	s.wantInvalidClient(t, a.ClientID, a.ClientSecret, "old secret")
	aTR2 := s.token(t, a.ClientID, newA)
	note(aTR2.AccessToken, aTR2.IDToken)
	r := s.do(t, http.MethodPut, "/api/2/clients/"+a.ClientID, bearer(admin), map[string]string{"status": "disabled"})
	r.Want(t, http.StatusOK, "disable")
	s.wantInvalidClient(t, a.ClientID, newA, "disabled client")
	r = s.do(t, http.MethodDelete, "/api/2/clients/"+a.ClientID, bearer(admin), nil)
	r.Want(t, http.StatusNoContent, "delete")

	// A client_secret_post client: the secret travels in the form body.
	r = s.do(t, http.MethodPost, "/api/2/clients", bearer(admin), map[string]any{
		"type": "api_client", "token_endpoint_auth_method": "client_secret_post",
	})
	r.Want(t, http.StatusCreated, "create post client")
	var p apiClient
	r.JSON(t, &p)
	note(p.ClientSecret)
	for _, secret := range []string{p.ClientSecret, p.ClientSecret + "x"} {
		r = s.do(t, http.MethodPost, "/bc/idp/token", "", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {p.ClientID}, "client_secret": {secret},
		})
		if secret == p.ClientSecret {
			r.Want(t, http.StatusOK, "token by form post")
			var tr tokenResponse
			r.JSON(t, &tr)
			note(tr.AccessToken, tr.IDToken)
		} else {
			r.Want(t, http.StatusUnauthorized, "wrong secret by form post")
		}
	}
	// A malformed request that carries the secret three times: Basic,
	// form body and query string.
	r = s.do(t, http.MethodPost, "/bc/idp/token?client_secret="+url.QueryEscape(p.ClientSecret), testkit.Basic(p.ClientID, p.ClientSecret),
		url.Values{"grant_type": {"client_credentials"}, "client_secret": {p.ClientSecret}})
	if r.Status < 400 {
		t.Errorf("two client authentication methods accepted: %d", r.Status)
	}

	// Wrong and unknown credentials, and a bearer token in a query string
	// (which a careless access log would record with the URL).
	wrong := boot.ClientSecret[:30] + "-wrong-wrong"
	note(wrong, basicB64(boot.ClientID, wrong))
	s.wantInvalidClient(t, boot.ClientID, wrong, "wrong admin secret")
	s.wantInvalidClient(t, "no-such-client", wrong, "unknown client")
	r = s.do(t, http.MethodGet, "/api/2/clients?access_token="+admin, "", nil)
	r.Want(t, http.StatusUnauthorized, "token in the query string only")
	r = s.do(t, http.MethodGet, "/api/2/clients", bearer(admin+"tampered"), nil)
	r.Want(t, http.StatusUnauthorized, "tampered token")

	// The CLI, as an operator would use it.
	env := connEnv(s.URL, boot.ClientID, boot.ClientSecret)
	cr := runCLI(t, env, "token", "--access-token-only")
	wantCLIOK(t, cr, "gatehouse token")
	note(strings.TrimSpace(cr.stdout))
	cr = runCLI(t, env, "clients", "create", "--name", "cli", "-o", "json")
	wantCLIOK(t, cr, "gatehouse clients create")
	var c apiClient
	decodeStrict(t, cr.stdout, &c)
	note(c.ClientSecret)
	cr = runCLI(t, env, "clients", "regenerate-secret", c.ClientID, "-o", "json")
	wantCLIOK(t, cr, "gatehouse clients regenerate-secret")
	var sr secretResponse
	decodeStrict(t, cr.stdout, &sr)
	note(sr.ClientSecret)
	cr = runCLI(t, connEnv(s.URL, c.ClientID, c.ClientSecret), "token")
	if cr.code != 1 {
		t.Errorf("CLI token with a regenerated-away secret: exit %d", cr.code)
	}

	// Stop gracefully: the shutdown path logs too.
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := s.waitExit(t, 5*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}

	log := s.stderr.String()
	// The log must be real for its absence of secrets to mean anything:
	// it has the token requests, failed ones included.
	for _, want := range []string{"/bc/idp/token", "401", "/api/2/clients", "gatehouse stopped"} {
		if !strings.Contains(log, want) {
			t.Fatalf("log lacks %q; is logging on?\n%s", want, log)
		}
	}
	for _, c := range creds {
		if c == "" {
			t.Fatal("a credential to look for is empty")
		}
		// Also its standard base64, in case something is dumped encoded.
		for _, form := range []string{c, base64.StdEncoding.EncodeToString([]byte(c))} {
			if strings.Contains(log, form) {
				t.Errorf("log contains a credential (%.8s...)", form)
			}
		}
	}
	if format == "json" {
		for i, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
			if !json.Valid([]byte(line)) {
				t.Errorf("log line %d is not JSON: %s", i+1, line)
			}
		}
	}
}
