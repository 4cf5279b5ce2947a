package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// connEnv is the environment that points the CLI at a server as a client.
func connEnv(url, id, secret string) []string {
	return []string{
		"GATEHOUSE_DATACENTER_URL=" + url,
		"GATEHOUSE_CLIENT_ID=" + id,
		"GATEHOUSE_CLIENT_SECRET=" + secret,
	}
}

// wantCLIOK fails the test unless the CLI run exited 0.
func wantCLIOK(t *testing.T, r cliResult, what string) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit code %d\nstdout: %s\nstderr: %s", what, r.code, r.stdout, r.stderr)
	}
}

// decodeStrict parses the whole of out as one JSON value: anything else on
// stdout (a notice, a second document) would break `| jq`.
func decodeStrict(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("stdout is not one JSON document (%v):\n%s", err, out)
	}
}

// TestCLIToken runs `gatehouse token` against a real server with the
// credentials given in each supported way.
func TestCLIToken(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	boot := s.bootstrapCreds(t)
	// A URL where nothing listens, to prove a flag overrides its twin.
	dead := "http://127.0.0.1:1"

	tests := []struct {
		name string
		env  []string
		args []string
	}{
		{"flags", nil, []string{"--datacenter-url", s.URL, "--client-id", boot.ClientID, "--client-secret", boot.ClientSecret}},
		{"environment", connEnv(s.URL, boot.ClientID, boot.ClientSecret), nil},
		{"flags win over the environment", connEnv(dead, "nobody", "wrong-secret-wrong-secret"),
			[]string{"--datacenter-url", s.URL, "--client-id", boot.ClientID, "--client-secret", boot.ClientSecret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, tt.env, append([]string{"token"}, tt.args...)...)
			wantCLIOK(t, r, "gatehouse token")
			var tr tokenResponse
			decodeStrict(t, r.stdout, &tr)
			s.noteCred(tr.AccessToken, tr.IDToken)
			checkTokenResponse(t, tr, 2*time.Hour)
			if c := claims(t, tr.AccessToken); c["client_id"] != boot.ClientID {
				t.Errorf("token for client_id %v, want %s", c["client_id"], boot.ClientID)
			}
			// The printed token is usable as is.
			if _, status := s.getClient(t, tr.AccessToken, boot.ClientID); status != http.StatusOK {
				t.Errorf("printed access token refused: %d", status)
			}

			// --access-token-only prints the token alone, for $(...).
			r = runCLI(t, tt.env, append([]string{"token", "--access-token-only"}, tt.args...)...)
			wantCLIOK(t, r, "gatehouse token --access-token-only")
			tok, ok := strings.CutSuffix(r.stdout, "\n")
			if !ok || strings.Contains(tok, "\n") || !jwtShape.MatchString(tok) {
				t.Fatalf("--access-token-only printed %q, want one line holding a JWT", r.stdout)
			}
			s.noteCred(tok)
			if _, status := s.getClient(t, tok, boot.ClientID); status != http.StatusOK {
				t.Errorf("--access-token-only token refused: %d", status)
			}
		})
	}
}

// TestCLIWrongSecret checks the CLI's failure mode: exit status 1, one
// line that says invalid_client, and neither secret echoed back.
func TestCLIWrongSecret(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	boot := s.bootstrapCreds(t)
	wrong := "wrong-" + boot.ClientSecret[:20] + "-not-the-secret"
	s.noteCred(wrong)

	viaFlag := []string{"--datacenter-url", s.URL, "--client-id", boot.ClientID, "--client-secret", wrong}
	tests := []struct {
		name string
		env  []string
		args []string
	}{
		{"token, secret flag", nil, append([]string{"token"}, viaFlag...)},
		{"token, secret in env", connEnv(s.URL, boot.ClientID, wrong), []string{"token"}},
		{"token --access-token-only", connEnv(s.URL, boot.ClientID, wrong), []string{"token", "--access-token-only"}},
		{"clients list", connEnv(s.URL, boot.ClientID, wrong), []string{"clients", "list"}},
		{"clients create", nil, append([]string{"clients", "create", "--name", "x", "-o", "json"}, viaFlag...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, tt.env, tt.args...)
			if r.code != 1 {
				t.Fatalf("exit code %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			wantOneLine(t, r.stderr)
			if !strings.Contains(r.stderr, "invalid_client") {
				t.Errorf("stderr %q does not say invalid_client", r.stderr)
			}
			if strings.Contains(r.stderr, wrong) || strings.Contains(r.stderr, boot.ClientSecret) {
				t.Errorf("stderr repeats a secret: %q", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
	// Nothing was created by the refused create.
	tok := s.token(t, boot.ClientID, boot.ClientSecret)
	if list := s.listClients(t, tok.AccessToken); len(list) != 1 {
		t.Errorf("clients after refused commands: %d, want only the admin", len(list))
	}
}

// TestCLIClients walks one API client through its whole life with the
// clients subcommands, checking each step's output and, independently,
// its effect through the HTTP API.
func TestCLIClients(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	boot := s.bootstrapCreds(t)
	// The connection comes from the environment, as the help recommends,
	// so that the admin secret is not on a command line.
	env := connEnv(s.URL, boot.ClientID, boot.ClientSecret)
	admin := func() string { return s.token(t, boot.ClientID, boot.ClientSecret).AccessToken }
	cli := func(args ...string) cliResult {
		t.Helper()
		r := runCLI(t, env, append([]string{"clients"}, args...)...)
		wantCLIOK(t, r, "gatehouse clients "+strings.Join(args, " "))
		return r
	}

	// create
	r := cli("create", "--name", "e2e app", "-o", "json")
	var created apiClient
	decodeStrict(t, r.stdout, &created)
	s.noteCred(created.ClientSecret)
	if created.ClientID == "" || created.ClientSecret == "" || created.Data.ClientName != "e2e app" || created.Status != "enabled" {
		t.Fatalf("create printed %+v", created)
	}
	// With -o json the "save the secret" notice goes to stderr, keeping
	// stdout parseable; it must still be shown.
	if !strings.Contains(r.stderr, "Save the client secret now") {
		t.Errorf("create -o json: stderr %q lacks the notice", r.stderr)
	}
	id := created.ClientID
	s.token(t, id, created.ClientSecret)

	// get
	r = cli("get", id, "-o", "json")
	var raw map[string]json.RawMessage
	decodeStrict(t, r.stdout, &raw)
	if _, ok := raw["client_secret"]; ok {
		t.Errorf("get shows a client_secret: %s", r.stdout)
	}
	var got apiClient
	decodeStrict(t, r.stdout, &got)
	if got.ClientID != id || got.Data.ClientName != "e2e app" || got.TenantID != boot.TenantID {
		t.Errorf("get printed %+v", got)
	}

	// list, as JSON and as the table a person reads
	r = cli("list", "-o", "json")
	var list clientList
	decodeStrict(t, r.stdout, &list)
	ids := map[string]bool{}
	for _, c := range list.Items {
		ids[c.ClientID] = true
	}
	if len(list.Items) != 2 || !ids[id] || !ids[boot.ClientID] {
		t.Errorf("list -o json: %+v, want the admin and %s", list.Items, id)
	}
	r = cli("list")
	if !strings.HasPrefix(r.stdout, "CLIENT ID") || !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "e2e app") {
		t.Errorf("list table:\n%s", r.stdout)
	}

	// disable: the server refuses the client's credentials
	r = cli("disable", id, "-o", "json")
	decodeStrict(t, r.stdout, &got)
	if got.Status != "disabled" {
		t.Errorf("disable printed status %q", got.Status)
	}
	if c, _ := s.getClient(t, admin(), id); c.Status != "disabled" {
		t.Errorf("after disable the API shows status %q", c.Status)
	}
	s.wantInvalidClient(t, id, created.ClientSecret, "disabled client")

	// enable: it works again
	r = cli("enable", id, "-o", "json")
	decodeStrict(t, r.stdout, &got)
	if got.Status != "enabled" {
		t.Errorf("enable printed status %q", got.Status)
	}
	s.token(t, id, created.ClientSecret)

	// regenerate-secret: the new secret works, the old one does not
	r = cli("regenerate-secret", id, "-o", "json")
	var sr secretResponse
	decodeStrict(t, r.stdout, &sr)
	s.noteCred(sr.ClientSecret)
	if sr.ClientID != id || sr.ClientSecret == "" || sr.ClientSecret == created.ClientSecret {
		t.Fatalf("regenerate-secret printed %+v", sr)
	}
	s.wantInvalidClient(t, id, created.ClientSecret, "old secret after regenerate-secret")
	s.token(t, id, sr.ClientSecret)

	// delete: gone from the API, and get now fails with notFound
	r = cli("delete", id, "-o", "json")
	if r.stdout != "" {
		t.Errorf("delete -o json printed %q, want nothing", r.stdout)
	}
	if _, status := s.getClient(t, admin(), id); status != http.StatusNotFound {
		t.Errorf("after delete GET answers %d, want 404", status)
	}
	s.wantInvalidClient(t, id, sr.ClientSecret, "deleted client")
	r = runCLI(t, env, "clients", "get", id)
	if r.code != 1 || !strings.Contains(r.stderr, "notFound") {
		t.Errorf("get of a deleted client: exit %d, stderr %q; want 1 and notFound", r.code, r.stderr)
	}
	wantOneLine(t, r.stderr)
}

// gatehouse keys lists the keys with their algorithm and state, and
// rotates in a key of the data center's algorithm.
func TestCLIKeys(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{args: []string{"--signing-alg", "ES256"}})
	boot := s.bootstrapCreds(t)
	env := connEnv(s.URL, boot.ClientID, boot.ClientSecret)
	keys := func(args ...string) string {
		t.Helper()
		r := runCLI(t, env, append([]string{"keys"}, args...)...)
		wantCLIOK(t, r, "gatehouse keys "+strings.Join(args, " "))
		return r.stdout
	}
	rows := func(table string) [][]string {
		var out [][]string
		for _, line := range strings.Split(strings.TrimSpace(table), "\n")[1:] {
			out = append(out, strings.Fields(line))
		}
		return out
	}

	table := keys("list")
	if !strings.HasPrefix(table, "KID") || !strings.Contains(strings.SplitN(table, "\n", 2)[0], "ALG") {
		t.Fatalf("keys list header: %q", table)
	}
	before := rows(table)
	if len(before) != 1 || before[0][1] != "ES256" || before[0][2] != "active" {
		t.Fatalf("keys list: %q, want one active ES256 key", table)
	}

	out := keys("rotate")
	if !strings.HasPrefix(out, "rotated in ES256 key ") {
		t.Errorf("keys rotate: %q", out)
	}
	after := rows(keys("list"))
	states := map[string]string{}
	for _, r := range after {
		states[r[0]] = r[2]
		if r[1] != "ES256" {
			t.Errorf("key %s is %s, want ES256", r[0], r[1])
		}
	}
	if len(after) != 2 || states[before[0][0]] != "active" {
		t.Errorf("after rotate: %v, want the old key still active and a next one", after)
	}

	var list struct {
		Items []struct {
			KID   string `json:"kid"`
			Alg   string `json:"alg"`
			State string `json:"state"`
		} `json:"items"`
	}
	decodeStrict(t, keys("list", "-o", "json"), &list)
	if len(list.Items) != 2 || list.Items[0].Alg != "ES256" || list.Items[1].Alg != "ES256" {
		t.Errorf("keys list -o json: %+v, want two ES256 keys", list)
	}
}
