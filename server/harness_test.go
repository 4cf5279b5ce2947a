package server_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/server"
	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/sqlite"
)

// clock is a settable clock shared by a test and its data center.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer collects logs written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type creds struct{ id, secret string }

// dc is one data center served over real HTTP on a loopback listener.
type dc struct {
	t     *testing.T
	URL   string
	svc   *service.Service
	store *sqlite.Store
	clock *clock
	logs  *syncBuffer
	admin creds
	dir   string
	// handler is swapped by restart while the listener stays.
	handler atomic.Pointer[server.Server]
}

type dcOptions struct {
	dir   string
	admin creds
}

// newDC starts a data center on a fresh SQLite file with a bootstrapped
// admin client.
func newDC(t *testing.T, opt dcOptions) *dc {
	t.Helper()
	if opt.dir == "" {
		opt.dir = t.TempDir()
	}
	if opt.admin.id == "" {
		opt.admin = creds{"admin-" + strings.ReplaceAll(t.Name(), "/", "-"), gatehouse.NewSecret()}
		if len(opt.admin.id) > 100 {
			opt.admin.id = opt.admin.id[:100]
		}
	}
	hs := httptest.NewUnstartedServer(nil)
	d := &dc{t: t, URL: "http://" + hs.Listener.Addr().String(), clock: &clock{t: time.Now()}, logs: &syncBuffer{}, admin: opt.admin, dir: opt.dir}
	d.start()
	hs.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.handler.Load().ServeHTTP(w, r)
	})
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		d.stop()
	})
	return d
}

// start opens the store and starts the service behind the same URL.
func (d *dc) start() {
	t := d.t
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(d.dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(d.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := service.New(service.Config{Sealer: testkit.Sealer(),
		Store: store, DatacenterURL: d.URL, DatacenterID: "test",
		TokenTTL: 2 * time.Hour, Leeway: 30 * time.Second, Logger: log, Now: d.clock.Now,
		AccessFlushInterval: 20 * time.Millisecond, SyncInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx, service.BootstrapCredentials{ClientID: d.admin.id, ClientSecret: d.admin.secret}); err != nil {
		t.Fatal(err)
	}
	d.svc, d.store = svc, store
	d.handler.Store(server.New(server.Config{Service: svc, DatacenterURL: d.URL, Logger: log}))
}

func (d *dc) stop() {
	d.svc.Close(context.Background())
	d.store.Close()
}

// restart stops the data center and starts it again on the same store.
func (d *dc) restart() {
	d.stop()
	d.start()
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
}

func (r response) apiError(t *testing.T) api.ErrorDetail {
	t.Helper()
	var e api.ErrorBody
	r.json(t, &e)
	return e.Error
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, b}
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// tokenRequest posts a form to the token endpoint with optional Basic auth.
func (d *dc) tokenRequest(path string, form url.Values, authorization string) response {
	d.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return do(d.t, req)
}

// token gets an access token for c, failing the test otherwise.
func (d *dc) token(c creds) api.TokenResponse {
	d.t.Helper()
	r := d.tokenRequest("/bc/idp/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.id, c.secret))
	if r.status != http.StatusOK {
		d.t.Fatalf("token for %s: %d %s", c.id, r.status, r.body)
	}
	var tr api.TokenResponse
	r.json(d.t, &tr)
	return tr
}

// call sends an account-API request with a bearer token ("" for none).
func (d *dc) call(method, path, bearer string, body any) response {
	d.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, d.URL+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return do(d.t, req)
}

// adminToken is a fresh access token of the bootstrap admin.
func (d *dc) adminToken() string { return d.token(d.admin).AccessToken }

// createClient creates a client as the admin and returns it with its secret.
func (d *dc) createClient(req api.CreateClientRequest) (api.Client, creds) {
	d.t.Helper()
	if req.Type == "" {
		req.Type = "api_client"
	}
	r := d.call(http.MethodPost, "/api/2/clients", d.adminToken(), req)
	if r.status != http.StatusCreated {
		d.t.Fatalf("create client: %d %s", r.status, r.body)
	}
	var c api.Client
	r.json(d.t, &c)
	return c, creds{c.ClientID, c.ClientSecret}
}

// signingKey returns the data center's private key, to forge tokens that
// carry a valid signature but break another rule.
func (d *dc) signingKey() (string, *rsa.PrivateKey) {
	d.t.Helper()
	keys, err := d.store.SigningKeys(context.Background())
	if err != nil || len(keys) == 0 {
		d.t.Fatalf("signing keys: %v", err)
	}
	der, err := testkit.Sealer().Open(keys[len(keys)-1].ID, keys[len(keys)-1].PrivateKey)
	if err != nil {
		d.t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		d.t.Fatal(err)
	}
	return keys[len(keys)-1].ID, k.(*rsa.PrivateKey)
}
