package server_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

func (d *dc) idpPost(path, authorization string, form url.Values) testkit.Response {
	d.t.Helper()
	return d.PostForm(path, form, authorization)
}

func bearerHeader(tok string) string { return "Bearer " + tok }

func TestIntrospection(t *testing.T) {
	d := newDC(t, testdc.Options{})
	other := newDC(t, testdc.Options{})
	c, cred := d.CreateClient(api.CreateClientRequest{})
	_, caller := d.CreateClient(api.CreateClientRequest{})
	live := d.Token(cred).AccessToken
	callerTok := d.Token(caller).AccessToken

	for _, path := range []string{"/bc/idp/introspect_token", "/api/2/idp/introspect_token"} {
		for name, auth := range map[string]string{
			"Basic":  testkit.Basic(caller.ID, caller.Secret),
			"Bearer": bearerHeader(callerTok),
		} {
			t.Run(path+" "+name, func(t *testing.T) {
				r := d.idpPost(path, auth, url.Values{"token": {live}})
				if r.Status != 200 || r.Header.Get("Cache-Control") != "no-store" {
					t.Fatalf("%d %s", r.Status, r.Body)
				}
				var got map[string]any
				r.JSON(t, &got)
				_, claims := decodeJWT(t, live)
				if got["active"] != true || got["client_id"] != c.ClientID || got["sub"] != c.ClientID ||
					got["iss"] != d.URL+"/bc" || got["owner_tuid"] != c.TenantID || got["jti"] != claims["jti"] ||
					got["token_type"] != "access_token" || got["aud"] != claims["aud"] {
					t.Errorf("answer = %s", r.Body)
				}
				if exp, ok := got["exp"].(float64); !ok || int64(exp) <= time.Now().Unix() {
					t.Errorf("exp = %v", got["exp"])
				}
				if _, ok := got["scope"].([]any); !ok {
					t.Errorf("scope = %v, want an array", got["scope"])
				}
			})
		}
	}

	disabledCli, disabledCred := d.CreateClient(api.CreateClientRequest{})
	disabledTok := d.Token(disabledCred).AccessToken
	d.Call("PUT", "/api/2/clients/"+disabledCli.ClientID, d.AdminToken(), map[string]string{"status": "disabled"})
	expiring := d.Token(cred).AccessToken
	inactive := map[string]string{
		"unparsable":         "garbage",
		"forged":             live[:len(live)-4] + "AAAA",
		"foreign":            other.AdminToken(),
		"ID token":           d.Token(cred).IDToken,
		"disabled client":    disabledTok,
		"expired (by clock)": expiring,
	}
	for name, tok := range inactive {
		t.Run("inactive "+name, func(t *testing.T) {
			if name == "expired (by clock)" {
				d.Clock.Advance(3 * time.Hour)
				defer d.Clock.Advance(-3 * time.Hour)
			}
			r := d.idpPost("/bc/idp/introspect_token", testkit.Basic(caller.ID, caller.Secret), url.Values{"token": {tok}})
			if r.Status != 200 || strings.TrimSpace(string(r.Body)) != `{"active":false}` {
				t.Errorf("%d %s", r.Status, r.Body)
			}
		})
	}

	unauth := map[string]string{
		"no credentials":   "",
		"wrong secret":     testkit.Basic(caller.ID, caller.Secret+"x"),
		"bad bearer":       bearerHeader("garbage"),
		"foreign bearer":   bearerHeader(other.AdminToken()),
		"disabled bearer":  bearerHeader(disabledTok),
		"empty bearer":     "Bearer ",
		"unknown client":   testkit.Basic("nobody", caller.Secret),
		"Basic not base64": "Basic !!!",
	}
	for name, auth := range unauth {
		t.Run("unauthenticated "+name, func(t *testing.T) {
			r := d.idpPost("/bc/idp/introspect_token", auth, url.Values{"token": {live}})
			var e api.OAuthError
			r.JSON(t, &e)
			if r.Status != 401 || e.Error != "invalid_client" {
				t.Errorf("%d %s", r.Status, r.Body)
			}
		})
	}
	t.Run("missing token", func(t *testing.T) {
		r := d.idpPost("/bc/idp/introspect_token", testkit.Basic(caller.ID, caller.Secret), url.Values{})
		if r.Status != 400 {
			t.Errorf("%d %s", r.Status, r.Body)
		}
	})
}

func TestRevocation(t *testing.T) {
	d := newDC(t, testdc.Options{})
	c, cred := d.CreateClient(api.CreateClientRequest{})
	_, peer := d.CreateClient(api.CreateClientRequest{})
	revoked := d.Token(cred).AccessToken
	kept := d.Token(cred).AccessToken
	peerTok := d.Token(peer).AccessToken

	for _, path := range []string{"/bc/idp/revoke_token", "/api/2/idp/revoke_token"} {
		r := d.idpPost(path, testkit.Basic(cred.ID, cred.Secret), url.Values{"token": {"unknown-token"}, "token_type_hint": {"access_token"}})
		if r.Status != 200 || len(r.Body) != 0 {
			t.Errorf("%s unknown token: %d %q", path, r.Status, r.Body)
		}
	}
	r := d.idpPost("/bc/idp/revoke_token", testkit.Basic(cred.ID, cred.Secret), url.Values{"token": {revoked}})
	if r.Status != 200 || len(r.Body) != 0 {
		t.Fatalf("revoke: %d %q", r.Status, r.Body)
	}
	get := func(tok string) (int, string) {
		r := d.Call("GET", "/api/2/clients/"+c.ClientID, tok, nil)
		if r.Status == 200 {
			return 200, ""
		}
		return r.Status, r.APIError(t).Code
	}
	if s, code := get(revoked); s != 401 || code != "tokenRevoked" {
		t.Errorf("revoked token: %d %s", s, code)
	}
	if s, _ := get(kept); s != 200 {
		t.Errorf("another token of the same client: %d", s)
	}
	intro := d.idpPost("/bc/idp/introspect_token", testkit.Basic(peer.ID, peer.Secret), url.Values{"token": {revoked}})
	if strings.TrimSpace(string(intro.Body)) != `{"active":false}` {
		t.Errorf("introspection of a revoked token: %s", intro.Body)
	}

	// A client cannot revoke another client's token.
	if r := d.idpPost("/bc/idp/revoke_token", testkit.Basic(cred.ID, cred.Secret), url.Values{"token": {peerTok}}); r.Status != 200 {
		t.Errorf("revoke a foreign token: %d", r.Status)
	}
	if r := d.Call("GET", "/api/2/clients/"+peer.ID, peerTok, nil); r.Status != 200 {
		t.Errorf("a foreign revocation took effect: %d %s", r.Status, r.Body)
	}

	for name, auth := range map[string]string{"none": "", "wrong secret": testkit.Basic(cred.ID, "x"), "bearer": bearerHeader(kept)} {
		r := d.idpPost("/bc/idp/revoke_token", auth, url.Values{"token": {kept}})
		var e api.OAuthError
		r.JSON(t, &e)
		if r.Status != 401 || e.Error != "invalid_client" {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	if r := d.idpPost("/bc/idp/revoke_token", testkit.Basic(cred.ID, cred.Secret), url.Values{}); r.Status != 400 {
		t.Errorf("missing token: %d", r.Status)
	}
	if s, _ := get(kept); s != 200 {
		t.Errorf("failed revocations revoked a token: %d", s)
	}

	// Revocations survive a restart on the same store.
	d.Restart()
	if s, code := get(revoked); s != 401 || code != "tokenRevoked" {
		t.Errorf("after restart: %d %s", s, code)
	}

	// ... and are forgotten once the token would have expired anyway.
	// Two resyncs later, one of them begun after the clock moved, they
	// are purged.
	d.Clock.Advance(3 * time.Hour)
	d.Synced.Wait(t, 2, "two resyncs")
	revs, err := d.Store.Revocations(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 0 {
		t.Fatalf("revocations of expired tokens kept: %+v", revs)
	}
}
