package guard

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/token"
)

// fakeDC is a data center made of the token package alone, for the answers
// a real one never gives: foreign keys in the JWKS, a discovery document
// about another issuer, odd introspection answers.
type fakeDC struct {
	t      *testing.T
	issuer string
	ring   *token.KeyRing
	minter *token.Issuer

	mu     sync.Mutex
	doc    map[string]any                                // the discovery document
	jwks   func() any                                    // the JWKS body
	answer func(form url.Values) (int, any)              // the introspection answer
	auths  []string                                      // Authorization headers seen at introspection
	calls  map[string]int                                // requests by path
	hook   func(w http.ResponseWriter, path string) bool // answers instead, when it returns true
}

func newFakeDC(t *testing.T) *fakeDC {
	t.Helper()
	now := time.Now()
	k, err := token.GenerateSigningKey(token.DefaultAlgorithm, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ring := &token.KeyRing{}
	if err := ring.Load([]gatehouse.SigningKey{k}, now); err != nil {
		t.Fatal(err)
	}
	f := &fakeDC{t: t, ring: ring, calls: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	f.issuer = srv.URL + "/bc"
	f.minter = &token.Issuer{URL: f.issuer, Audience: u.Host, TTL: time.Hour, Keys: ring}
	f.doc = map[string]any{
		"issuer":                 f.issuer,
		"jwks_uri":               f.issuer + "/idp/keys",
		"introspection_endpoint": f.issuer + "/idp/introspect_token",
	}
	f.jwks = func() any { return ring.JWKS() }
	f.answer = func(url.Values) (int, any) { return http.StatusOK, map[string]any{"active": true} }
	return f
}

func (f *fakeDC) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls[r.URL.Path]++
	hook := f.hook
	doc, jwks, answer := f.doc, f.jwks, f.answer
	if r.URL.Path == "/bc/idp/introspect_token" {
		f.auths = append(f.auths, r.Header.Get("Authorization"))
	}
	f.mu.Unlock()
	if hook != nil && hook(w, r.URL.Path) {
		return
	}
	switch r.URL.Path {
	case "/bc/.well-known/openid-configuration":
		json.NewEncoder(w).Encode(doc)
	case "/bc/idp/keys":
		json.NewEncoder(w).Encode(jwks())
	case "/bc/idp/introspect_token":
		r.ParseForm()
		status, body := answer(r.PostForm)
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeDC) set(fn func(f *fakeDC)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeDC) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

func (f *fakeDC) config(id, secret string) Issuer {
	return Issuer{URL: f.issuer, Audience: f.minter.Audience, ClientID: id, ClientSecret: secret}
}

func (f *fakeDC) mint(clientID string, now time.Time) string {
	f.t.Helper()
	is, err := f.minter.Issue(context.Background(), gatehouse.Client{ID: clientID, TenantID: "tenant-1", Generation: 1}, now)
	if err != nil {
		f.t.Fatal(err)
	}
	return is.AccessToken
}

func newTestGuard(t *testing.T, cfg Config) *Guard {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func code(err error) string {
	var ge *Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	if errors.Is(err, gatehouse.ErrUnavailable) {
		return "unavailable"
	}
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// The client credentials are form-urlencoded before the Basic encoding
// (RFC 6749 2.3.1), so a colon in the id survives.
func TestIntrospectionBasicEncoding(t *testing.T) {
	f := newFakeDC(t)
	id, secret := "svc:reader+1", "s3cr/t:%ü"
	g := newTestGuard(t, Config{Issuers: []Issuer{f.config(id, secret)}})
	if _, err := g.Verify(context.Background(), f.mint("app", time.Now())); err != nil {
		t.Fatal(err)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("svc%3Areader%2B1:s3cr%2Ft%3A%25%C3%BC"))
	f.set(func(f *fakeDC) {
		if len(f.auths) != 1 || f.auths[0] != want {
			t.Errorf("Authorization = %q, want %q", f.auths, want)
		}
	})
}

// A repeated token skips signature verification: the key source is asked
// once.
func TestVerifiedTokenCache(t *testing.T) {
	f := newFakeDC(t)
	g := newTestGuard(t, Config{Issuers: []Issuer{f.config("rs", "secret")}})
	var lookups atomic.Int32
	iss := g.issuers[f.issuer]
	iss.verifier.Keys = keySourceFunc(func(ctx context.Context, kid string) (token.PublicKey, error) {
		lookups.Add(1)
		return iss.VerificationKey(ctx, kid)
	})
	tok := f.mint("app", time.Now())
	for range 3 {
		if _, err := g.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := lookups.Load(); n != 1 {
		t.Errorf("%d key lookups for one token verified three times", n)
	}
	if n := f.count("/bc/idp/introspect_token"); n != 1 {
		t.Errorf("%d introspections, want 1 within the status TTL", n)
	}
}

type keySourceFunc func(ctx context.Context, kid string) (token.PublicKey, error)

func (f keySourceFunc) VerificationKey(ctx context.Context, kid string) (token.PublicKey, error) {
	return f(ctx, kid)
}

// A status answer is kept for StatusCacheTTL but never past the token's
// expiry, even while the leeway still accepts the token.
func TestStatusNeverOutlivesToken(t *testing.T) {
	f := newFakeDC(t)
	clk := testkit.NewClock(time.Now())
	g := newTestGuard(t, Config{Issuers: []Issuer{f.config("rs", "secret")}, Leeway: time.Minute, StatusCacheTTL: 2 * time.Hour, Now: clk.Now})
	tok := f.mint("app", clk.Now()) // lives one hour
	ctx := context.Background()
	if _, err := g.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	clk.Advance(59 * time.Minute)
	if _, err := g.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if n := f.count("/bc/idp/introspect_token"); n != 1 {
		t.Fatalf("%d introspections within the TTL", n)
	}
	clk.Advance(90 * time.Second) // past exp, within the leeway
	if _, err := g.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if n := f.count("/bc/idp/introspect_token"); n != 2 {
		t.Errorf("%d introspections, want a second one after exp", n)
	}
	clk.Advance(time.Minute)
	if _, err := g.Verify(ctx, tok); code(err) != gatehouse.CodeTokenExpired {
		t.Errorf("past exp and leeway: %v", err)
	}
}

func TestUntrustworthyAnswers(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384Key, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	smallKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	tests := []struct {
		name   string
		change func(f *fakeDC)
		want   string
	}{
		{"discovery about another issuer", func(f *fakeDC) { f.doc["issuer"] = "https://elsewhere.example/bc" }, "unavailable"},
		{"discovery without introspection", func(f *fakeDC) { delete(f.doc, "introspection_endpoint") }, "unavailable"},
		{"discovery with a relative jwks_uri", func(f *fakeDC) { f.doc["jwks_uri"] = "/bc/idp/keys" }, "unavailable"},
		{"JWKS without a usable key", func(f *fakeDC) {
			f.jwks = func() any {
				pub := f.ring.JWKS().Keys[0]
				enc, rs384 := pub, pub
				enc.Use, rs384.Algorithm = "enc", "RS384"
				return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
					enc, rs384,
					{Key: &p384Key.PublicKey, KeyID: pub.KeyID, Algorithm: "ES384", Use: "sig"},
					{Key: &p384Key.PublicKey, KeyID: pub.KeyID + "-x", Use: "sig"},
					{Key: &ecKey.PublicKey, KeyID: pub.KeyID, Algorithm: "RS256", Use: "sig"},
					{Key: &smallKey.PublicKey, KeyID: pub.KeyID, Algorithm: "RS256", Use: "sig"},
				}}
			}
		}, "unavailable"},
		{"JWKS naming our kid for an ES256 key", func(f *fakeDC) {
			// A key binds its algorithm: an RS256 token is not checked
			// against a P-256 key, whatever its header says.
			f.jwks = func() any {
				pub := f.ring.JWKS().Keys[0]
				return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ecKey.PublicKey, KeyID: pub.KeyID, Algorithm: "ES256", Use: "sig"}}}
			}
		}, gatehouse.CodeTokenInvalid},
		{"JWKS with foreign keys beside ours", func(f *fakeDC) {
			f.jwks = func() any {
				return map[string]any{"keys": []any{
					map[string]any{"kty": "unknown-type", "kid": "x"},
					jose.JSONWebKey{Key: &ecKey.PublicKey, KeyID: "ec", Algorithm: "ES256", Use: "sig"},
					f.ring.JWKS().Keys[0],
				}}
			}
		}, "ok"},
		{"JWKS over 1 MiB", func(f *fakeDC) {
			f.jwks = func() any { return map[string]any{"keys": []any{}, "pad": strings.Repeat("x", 2<<20)} }
		}, "unavailable"},
		{"introspection without active", func(f *fakeDC) {
			f.answer = func(url.Values) (int, any) { return http.StatusOK, map[string]any{"client_id": "app"} }
		}, "unavailable"},
		{"introspection about another client", func(f *fakeDC) {
			f.answer = func(url.Values) (int, any) {
				return http.StatusOK, map[string]any{"active": true, "client_id": "someone-else"}
			}
		}, "unavailable"},
		{"introspection not JSON", func(f *fakeDC) {
			f.hook = func(w http.ResponseWriter, path string) bool {
				if path != "/bc/idp/introspect_token" {
					return false
				}
				w.Write([]byte("<html>"))
				return true
			}
		}, "unavailable"},
		{"introspection redirects", func(f *fakeDC) {
			f.hook = func(w http.ResponseWriter, path string) bool {
				if path != "/bc/idp/introspect_token" {
					return false
				}
				w.Header().Set("Location", "/elsewhere")
				w.WriteHeader(http.StatusTemporaryRedirect)
				return true
			}
		}, "unavailable"},
		{"inactive", func(f *fakeDC) {
			f.answer = func(url.Values) (int, any) { return http.StatusOK, map[string]any{"active": false} }
		}, gatehouse.CodeTokenRevoked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDC(t)
			f.set(tc.change)
			g := newTestGuard(t, Config{Issuers: []Issuer{f.config("rs", "secret")}})
			_, err := g.Verify(context.Background(), f.mint("app", time.Now()))
			if got := code(err); got != tc.want {
				t.Errorf("Verify: %v, want %s", err, tc.want)
			}
			if f.count("/elsewhere") != 0 {
				t.Error("introspection followed a redirect with the client secret")
			}
		})
	}
}

// An https issuer may not send the guard to plain http.
func TestEndpointsOfHTTPSIssuer(t *testing.T) {
	i := &issuer{cfg: Issuer{URL: "https://dc.example/bc"}}
	if _, err := i.endpoint("jwks_uri", "http://dc.example/bc/idp/keys"); err == nil {
		t.Error("accepted an http jwks_uri for an https issuer")
	}
	if _, err := i.endpoint("jwks_uri", "https://keys.example/jwks"); err != nil {
		t.Error(err)
	}
}

func TestTokenCacheBound(t *testing.T) {
	c := newTokenCache(3)
	now := time.Now()
	keys := make([][32]byte, 5)
	for n := range keys {
		keys[n][0] = byte(n)
	}
	claims := &Claims{}
	for n := range 3 {
		c.add(keys[n], nil, claims, time.Time{}, now.Add(time.Hour))
	}
	c.verified(keys[0], now) // keys[0] is now the most recently used
	c.add(keys[3], nil, claims, time.Time{}, now.Add(time.Hour))
	c.add(keys[4], nil, claims, time.Time{}, now.Add(time.Hour))
	if c.len() != 3 {
		t.Fatalf("%d entries, want 3", c.len())
	}
	for n, want := range []bool{true, false, false, true, true} {
		if _, _, ok := c.verified(keys[n], now); ok != want {
			t.Errorf("entry %d cached = %v, want %v", n, ok, want)
		}
	}
	if _, _, ok := c.verified(keys[0], now.Add(2*time.Hour)); ok || c.len() != 2 {
		t.Errorf("an entry past its time is used or kept (%d entries)", c.len())
	}
}
