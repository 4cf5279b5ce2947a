package guard_test

import (
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

	"github.com/gatehouse-dev/gatehouse/guard"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
)

// The data centers are internal/testdc's: real servers on loopback
// listeners, each on its own SQLite file.

// issuer is the guard's configuration for this data center, introspecting
// with c's credentials.
func issuer(d *testdc.DataCenter, c testdc.Creds) guard.Issuer {
	u, _ := url.Parse(d.URL)
	return guard.Issuer{URL: d.URL + "/bc", Audience: u.Host, ClientID: c.ID, ClientSecret: c.Secret}
}

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
