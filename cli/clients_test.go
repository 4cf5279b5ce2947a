package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/cli"
)

const (
	adminID     = "admin-client"
	adminSecret = "admin-secret-0123456789abcdefghijklmnopqrstuvwxyz"
)

// fakeDC mimics a data center's token endpoint and /api/2/clients well
// enough to drive the commands: credentials are checked, disabled clients
// get no tokens, and lists come in pages of two.
type fakeDC struct {
	srv *httptest.Server

	mu        sync.Mutex
	clients   map[string]*api.Client
	secrets   map[string]string
	tokens    map[string]string // access token → client id
	issued    int
	tokenHits int
	apiHits   int
}

func newFakeDC(t *testing.T) *fakeDC {
	t.Helper()
	f := &fakeDC{
		clients: map[string]*api.Client{},
		secrets: map[string]string{adminID: adminSecret},
		tokens:  map[string]string{},
	}
	f.clients[adminID] = &api.Client{
		ClientID: adminID, Type: "api_client", TenantID: "root-tenant",
		TokenEndpointAuthMethod: "client_secret_basic", Role: "tenant_admin",
		Data: json.RawMessage(`{"client_name":"Bootstrap admin"}`), Status: "enabled",
		CreatedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bc/idp/token", f.token)
	mux.Handle("GET /api/2/clients", f.bearer(f.list))
	mux.Handle("POST /api/2/clients", f.bearer(f.create))
	mux.Handle("GET /api/2/clients/{id}", f.bearer(f.get))
	mux.Handle("PUT /api/2/clients/{id}", f.bearer(f.update))
	mux.Handle("DELETE /api/2/clients/{id}", f.bearer(f.delete))
	mux.Handle("POST /api/2/clients/{id}/secret", f.bearer(f.regenerate))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)

	t.Setenv("GATEHOUSE_DATACENTER_URL", f.srv.URL)
	t.Setenv("GATEHOUSE_CLIENT_ID", adminID)
	t.Setenv("GATEHOUSE_CLIENT_SECRET", adminSecret)
	return f
}

func (f *fakeDC) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenHits++
	id, secret, _ := r.BasicAuth()
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	c, ok := f.clients[id]
	if !ok || f.secrets[id] != secret || c.Status != "enabled" {
		w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse"`)
		writeJSON(w, http.StatusUnauthorized, api.OAuthError{Error: "invalid_client", ErrorDescription: "Client authentication failed."})
		return
	}
	f.issued++
	tok := fmt.Sprintf("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.sig%d", f.issued)
	f.tokens[tok] = id
	now := time.Now().Unix()
	writeJSON(w, http.StatusOK, api.TokenResponse{AccessToken: tok, TokenType: "bearer", ExpiresIn: 7200, ExpiresOn: now + 7200})
}

func (f *fakeDC) bearer(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.apiHits++
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		_, ok := f.tokens[tok]
		f.mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, api.ErrorBody{Error: api.ErrorDetail{Code: "tokenInvalid", Message: "The access token is invalid."}})
			return
		}
		next(w, r)
	})
}

func (f *fakeDC) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.clients))
	for id := range f.clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	after := r.URL.Query().Get("after")
	out := api.ClientList{Items: []api.Client{}}
	for _, id := range ids {
		if id <= after {
			continue
		}
		if len(out.Items) == 2 {
			out.Paging = &api.Paging{Cursors: api.Cursors{After: out.Items[1].ClientID}}
			break
		}
		out.Items = append(out.Items, *f.clients[id])
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *fakeDC) create(w http.ResponseWriter, r *http.Request) {
	var req api.CreateClientRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Type != "api_client" {
		writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: api.ErrorDetail{Code: "validationError", Message: "Invalid body."}})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := fmt.Sprintf("client-%d", len(f.clients))
	zero := int64(0)
	c := &api.Client{
		ClientID: id, ClientSecretExpiresAt: &zero, Type: req.Type, TenantID: req.TenantID,
		TokenEndpointAuthMethod: req.TokenEndpointAuthMethod, Role: req.Role, Data: req.Data,
		CreatedAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), CreatedBy: adminID, Status: "enabled",
	}
	if c.TenantID == "" {
		c.TenantID = "root-tenant"
	}
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = "client_secret_basic"
	}
	if c.Data == nil {
		c.Data = json.RawMessage(`{}`)
	}
	f.clients[id] = c
	f.secrets[id] = "secret-of-" + id
	shown := *c
	shown.ClientSecret = f.secrets[id]
	writeJSON(w, http.StatusCreated, shown)
}

func (f *fakeDC) lookup(w http.ResponseWriter, r *http.Request) *api.Client {
	c, ok := f.clients[r.PathValue("id")]
	if !ok {
		writeJSON(w, http.StatusNotFound, api.ErrorBody{Error: api.ErrorDetail{Code: "notFound", Message: "API client not found."}})
	}
	return c
}

func (f *fakeDC) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.lookup(w, r); c != nil {
		writeJSON(w, http.StatusOK, c)
	}
}

func (f *fakeDC) update(w http.ResponseWriter, r *http.Request) {
	var req api.UpdateClientRequest
	_ = json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.lookup(w, r); c != nil {
		if req.Status != nil {
			c.Status = *req.Status
		}
		writeJSON(w, http.StatusOK, c)
	}
}

func (f *fakeDC) delete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.lookup(w, r); c != nil {
		delete(f.clients, c.ClientID)
		w.WriteHeader(http.StatusNoContent)
	}
}

func (f *fakeDC) regenerate(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.lookup(w, r); c != nil {
		f.secrets[c.ClientID] = "regenerated-" + c.ClientID
		writeJSON(w, http.StatusOK, api.SecretResponse{ClientID: c.ClientID, ClientSecret: f.secrets[c.ClientID]})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// gatehouse runs the command in-process and returns its exit code and
// output.
func gatehouse(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// mustRun runs a command that must succeed.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := gatehouse(t, args...)
	if code != 0 {
		t.Fatalf("gatehouse %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out
}

// fieldValue finds "Key:   value" in a key/value block.
func fieldValue(t *testing.T, out, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `:\s+(.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q line in:\n%s", key, out)
	}
	return strings.TrimSpace(m[1])
}

func TestClientsLifecycleText(t *testing.T) {
	f := newFakeDC(t)

	out := mustRun(t, "clients", "create", "--name", "My app", "--admin", "--auth-method", "client_secret_post")
	id := fieldValue(t, out, "Client ID")
	secret := fieldValue(t, out, "Client secret")
	if secret != "secret-of-"+id {
		t.Errorf("create printed secret %q, want secret-of-%s", secret, id)
	}
	if !strings.Contains(out, "will not be shown again") {
		t.Errorf("create output lacks the one-time warning:\n%s", out)
	}
	for key, want := range map[string]string{"Name": "My app", "Role": "tenant_admin", "Auth method": "client_secret_post", "Status": "enabled", "Last access": "never"} {
		if got := fieldValue(t, out, key); got != want {
			t.Errorf("create: %s = %q, want %q", key, got, want)
		}
	}

	out = mustRun(t, "clients", "get", id)
	if strings.Contains(out, secret) || strings.Contains(out, "Client secret") {
		t.Errorf("get shows a secret:\n%s", out)
	}
	if got := fieldValue(t, out, "Name"); got != "My app" {
		t.Errorf("get: Name = %q", got)
	}

	if got := fieldValue(t, mustRun(t, "clients", "disable", id), "Status"); got != "disabled" {
		t.Errorf("after disable: Status = %q", got)
	}
	if got := fieldValue(t, mustRun(t, "clients", "enable", id), "Status"); got != "enabled" {
		t.Errorf("after enable: Status = %q", got)
	}

	out = mustRun(t, "clients", "regenerate-secret", id)
	if got := fieldValue(t, out, "Client secret"); got != "regenerated-"+id {
		t.Errorf("regenerate-secret printed %q", got)
	}
	if !strings.Contains(out, "will not be shown again") {
		t.Errorf("regenerate-secret output lacks the one-time warning:\n%s", out)
	}

	if out := mustRun(t, "clients", "delete", id); !strings.Contains(out, id) {
		t.Errorf("delete output = %q", out)
	}
	code, out, errOut := gatehouse(t, "clients", "get", id)
	if code != 1 || out != "" {
		t.Errorf("get after delete: exit %d, stdout %q", code, out)
	}
	if want := "gatehouse: 404 notFound: API client not found.\n"; errOut != want {
		t.Errorf("get after delete: stderr %q, want %q", errOut, want)
	}

	// One token per command run: each run is a fresh process in real use.
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokenHits != 7 {
		t.Errorf("token requests = %d, want 7 (one per command)", f.tokenHits)
	}
}

func TestClientsListTable(t *testing.T) {
	newFakeDC(t)
	for _, name := range []string{"one", "two", "three"} {
		mustRun(t, "clients", "create", "--name", name)
	}
	out := mustRun(t, "clients", "list")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("list printed %d lines, want a header and 4 clients across pages:\n%s", len(lines), out)
	}
	if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"CLIENT", "ID", "NAME", "STATUS", "ROLE", "CREATED", "LAST", "ACCESS"}) {
		t.Errorf("header = %q", lines[0])
	}
	// Columns line up: every row starts its NAME where the header does.
	col := strings.Index(lines[0], "NAME")
	for _, l := range lines[1:] {
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("row %q is not aligned with the header", l)
		}
	}
	if !strings.Contains(out, "Bootstrap admin") || !strings.Contains(out, "tenant_admin") || !strings.Contains(out, "2030-01-02T03:04:05Z") {
		t.Errorf("list lacks expected cells:\n%s", out)
	}
}

func TestClientsJSONOutput(t *testing.T) {
	newFakeDC(t)
	code, out, errOut := gatehouse(t, "clients", "create", "--output", "json", "--name", "My app", "--tenant-id", "t-1")
	if code != 0 {
		t.Fatalf("create: exit %d, stderr %q", code, errOut)
	}
	var created api.Client
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("create --output json printed non-JSON %q: %v", out, err)
	}
	var data map[string]string
	_ = json.Unmarshal(created.Data, &data)
	if created.ClientSecret == "" || created.TenantID != "t-1" || data["client_name"] != "My app" {
		t.Errorf("created = %+v", created)
	}
	if !strings.Contains(errOut, "will not be shown again") || strings.Contains(errOut, created.ClientSecret) {
		t.Errorf("stderr = %q: want the warning, without the secret", errOut)
	}
	if !strings.Contains(out, "\n  \"client_id\"") {
		t.Errorf("JSON is not indented:\n%s", out)
	}

	var list api.ClientList
	if err := json.Unmarshal([]byte(mustRun(t, "clients", "list", "-o", "json")), &list); err != nil || len(list.Items) != 2 {
		t.Errorf("list -o json = %+v, %v", list, err)
	}
	var s api.SecretResponse
	if err := json.Unmarshal([]byte(mustRun(t, "clients", "regenerate-secret", created.ClientID, "-o", "json")), &s); err != nil || s.ClientSecret == "" {
		t.Errorf("regenerate-secret -o json = %+v, %v", s, err)
	}
	if out := mustRun(t, "clients", "delete", created.ClientID, "-o", "json"); out != "" {
		t.Errorf("delete -o json printed %q, want nothing", out)
	}
}

func TestClientsErrors(t *testing.T) {
	f := newFakeDC(t)
	for _, tc := range []struct {
		name string
		args []string
		want string // the whole stderr
	}{
		{"bad output", []string{"clients", "list", "--output", "yaml"}, `gatehouse: --output "yaml": want text or json` + "\n"},
		{"bad auth method", []string{"clients", "create", "--auth-method", "none"}, `gatehouse: --auth-method "none": want client_secret_basic or client_secret_post` + "\n"},
		{"wrong secret", []string{"clients", "list", "--client-secret", "wrong"}, "gatehouse: 401 invalid_client: Client authentication failed.\n"},
		{"unknown client", []string{"clients", "disable", "nope"}, "gatehouse: 404 notFound: API client not found.\n"},
		{"missing id argument", []string{"clients", "get"}, "gatehouse: accepts 1 arg(s), received 0\n"},
		{"unknown subcommand", []string{"clients", "remove", "x"}, `gatehouse: unknown command "remove" for "gatehouse clients"` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := gatehouse(t, tc.args...)
			if code != 1 || out != "" || errOut != tc.want {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, no stdout, stderr %q", code, out, errOut, tc.want)
			}
			if strings.Contains(errOut, adminSecret) {
				t.Errorf("stderr contains the secret")
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokenHits != 2 {
		t.Errorf("token requests = %d, want 2: flag errors must fail before any request", f.tokenHits)
	}
}

func TestClientsUnreachableDatacenter(t *testing.T) {
	f := newFakeDC(t)
	f.srv.Close()
	code, _, errOut := gatehouse(t, "clients", "list")
	if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, f.srv.URL) {
		t.Errorf("exit %d, stderr %q: want one line naming the data center", code, errOut)
	}
}
