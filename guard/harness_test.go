package guard_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/guard"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/token"
)

// The data centers are internal/testdc's: real servers on loopback
// listeners, each on its own SQLite file.

type clock = testdc.Clock

type creds struct{ id, secret string }

// dc is one data center with this package's request helpers.
type dc struct {
	*testdc.DataCenter
	t     *testing.T
	admin creds
}

type dcOptions struct {
	admin creds
	alg   string // signing algorithm; RS256 if ""
}

// newDC starts a data center on a fresh SQLite file with a bootstrapped
// admin client.
func newDC(t *testing.T, opt dcOptions) *dc {
	t.Helper()
	d := testdc.Start(t, testdc.Options{AdminID: opt.admin.id, AdminSecret: opt.admin.secret, SigningAlgorithm: opt.alg})
	return &dc{DataCenter: d, t: t, admin: creds{d.AdminID, d.AdminSecret}}
}

// issuer is the guard's configuration for this data center, introspecting
// with c's credentials.
func (d *dc) issuer(c creds) guard.Issuer {
	u, _ := url.Parse(d.URL)
	return guard.Issuer{URL: d.URL + "/bc", Audience: u.Host, ClientID: c.id, ClientSecret: c.secret}
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

// post sends a form to an IdP endpoint with optional Basic auth.
func (d *dc) post(path string, form url.Values, authorization string) response {
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
	r := d.post("/bc/idp/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.id, c.secret))
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
	if body != nil {
		j, _ := json.Marshal(body)
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
func (d *dc) createClient() (api.Client, creds) {
	d.t.Helper()
	r := d.call(http.MethodPost, "/api/2/clients", d.adminToken(), api.CreateClientRequest{Type: "api_client"})
	if r.status != http.StatusCreated {
		d.t.Fatalf("create client: %d %s", r.status, r.body)
	}
	var c api.Client
	r.json(d.t, &c)
	return c, creds{c.ClientID, c.ClientSecret}
}

// forge re-signs the admin's token, changed by mutate (see testdc.Forge).
func (d *dc) forge(typ string, mutate func(*token.AccessClaims)) string {
	d.t.Helper()
	return d.Forge(d.adminToken(), typ, mutate)
}

func b64(v any) string { return testdc.B64(v) }

// recorder is an http.RoundTripper that counts the guard's requests by path
// and can take an endpoint down.
type recorder struct {
	base http.RoundTripper

	mu     sync.Mutex
	counts map[string]int
	down   map[string]int // path → status to answer; 0 means a network error
}

var errDown = errors.New("test: endpoint is down")

func newRecorder() *recorder {
	return &recorder{base: http.DefaultTransport, counts: map[string]int{}, down: map[string]int{}}
}

func (rt *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.counts[req.URL.Path]++
	status, down := rt.down[req.URL.Path]
	rt.mu.Unlock()
	if !down {
		return rt.base.RoundTrip(req)
	}
	if req.Body != nil {
		req.Body.Close()
	}
	if status == 0 {
		return nil, errDown
	}
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"text/plain"}}, Body: io.NopCloser(strings.NewReader("down")), Request: req,
	}, nil
}

func (rt *recorder) count(path string) int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.counts[path]
}

// setDown takes path down (status 0: network error) or, with ok, brings it
// back.
func (rt *recorder) setDown(path string, status int, isDown bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if isDown {
		rt.down[path] = status
	} else {
		delete(rt.down, path)
	}
}

func (rt *recorder) client() *http.Client {
	return &http.Client{Transport: rt, Timeout: 10 * time.Second}
}

const (
	discoveryPath  = "/bc/.well-known/openid-configuration"
	keysPath       = "/bc/idp/keys"
	introspectPath = "/bc/idp/introspect_token"
)

// newGuard builds a guard that is closed when the test ends.
func newGuard(t *testing.T, cfg guard.Config) *guard.Guard {
	t.Helper()
	g, err := guard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// seen is what the protected handler reports of the claims it was given.
type seen struct {
	ClientID  string `json:"client_id"`
	Issuer    string `json:"iss"`
	OwnerTUID string `json:"owner_tuid"`
}

// protect serves a handler behind g that echoes the verified claims.
func protect(t *testing.T, g *guard.Guard) string {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := guard.ClaimsFrom(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(seen{ClientID: c.ClientID, Issuer: c.Issuer, OwnerTUID: c.OwnerTUID})
	})
	return httptestServer(t, g.Middleware(h))
}

func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	rs := httptest.NewServer(h)
	t.Cleanup(rs.Close)
	return rs.URL
}

// get calls a protected URL with an Authorization header ("" sends none).
func get(t *testing.T, u, authorization string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return do(t, req)
}
