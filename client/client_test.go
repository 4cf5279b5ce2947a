package client_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

const (
	testID     = "3663410d-4b70-4860-860c-8db82bffab8e"
	testSecret = "s3cr3t-Value_with-enough-length-0123456789abcdef"
)

// fakeDC stands in for a data center: a token endpoint that checks Basic
// credentials and hands out numbered tokens, and a bearer-protected
// /api/2/clients/ that echoes what it received.
type fakeDC struct {
	srv       *httptest.Server
	id        string
	secret    string
	expiresIn int64
	now       func() time.Time

	tokenHits atomic.Int64
	apiHits   atomic.Int64
	// tokenGate, when set, holds every token request until it is closed.
	tokenGate chan struct{}
	// tokenStarted, when set, receives once per token request.
	tokenStarted chan struct{}

	mu       sync.Mutex
	issued   int
	revoked  map[string]bool
	lastBody []string
}

func newFakeDC(t *testing.T) *fakeDC {
	t.Helper()
	f := &fakeDC{id: testID, secret: testSecret, expiresIn: 7200, now: time.Now, revoked: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bc/idp/token", f.token)
	mux.HandleFunc("/api/2/clients/", f.api)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDC) token(w http.ResponseWriter, r *http.Request) {
	f.tokenHits.Add(1)
	if f.tokenStarted != nil {
		f.tokenStarted <- struct{}{}
	}
	if f.tokenGate != nil {
		<-f.tokenGate
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != f.id || secret != f.secret || r.PostFormValue("grant_type") != "client_credentials" {
		w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse"`)
		writeJSON(w, http.StatusUnauthorized, api.OAuthError{Error: "invalid_client", ErrorDescription: "Client authentication failed."})
		return
	}
	f.mu.Lock()
	f.issued++
	tok := fmt.Sprintf("token-%d", f.issued)
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, api.TokenResponse{
		AccessToken: tok, TokenType: "bearer", ExpiresIn: f.expiresIn,
		ExpiresOn: f.now().Unix() + f.expiresIn,
	})
}

func (f *fakeDC) api(w http.ResponseWriter, r *http.Request) {
	f.apiHits.Add(1)
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.lastBody = append(f.lastBody, string(body))
	f.mu.Unlock()
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	bad := !ok || f.revoked[tok]
	f.mu.Unlock()
	if bad {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="invalid_token", error_description="The access token was revoked."`)
		writeJSON(w, http.StatusUnauthorized, api.ErrorBody{Error: api.ErrorDetail{Code: "tokenRevoked", Message: "The access token was revoked."}})
		return
	}
	writeJSON(w, http.StatusOK, api.Client{ClientID: strings.TrimPrefix(r.URL.EscapedPath(), "/api/2/clients/"), Status: "enabled"})
}

func (f *fakeDC) revoke(tok string) {
	f.mu.Lock()
	f.revoked[tok] = true
	f.mu.Unlock()
}

func (f *fakeDC) client(t *testing.T, mod func(*client.Config)) *client.Client {
	t.Helper()
	cfg := client.Config{DatacenterURL: f.srv.URL, ClientID: f.id, ClientSecret: f.secret, HTTPClient: f.srv.Client()}
	if mod != nil {
		mod(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func TestNewValidatesConfig(t *testing.T) {
	good := client.Config{DatacenterURL: "https://eu8-cloud.example.com/", ClientID: "id", ClientSecret: testSecret}
	c, err := client.New(good)
	if err != nil {
		t.Fatalf("New(%+v): %v", good.DatacenterURL, err)
	}
	if got := c.DatacenterURL(); got != "https://eu8-cloud.example.com" {
		t.Errorf("DatacenterURL() = %q, want the trailing slash trimmed", got)
	}

	for _, bad := range []struct {
		name string
		mod  func(*client.Config)
	}{
		{"relative URL", func(c *client.Config) { c.DatacenterURL = "/bc" }},
		{"no scheme", func(c *client.Config) { c.DatacenterURL = "eu8-cloud.example.com" }},
		{"ftp", func(c *client.Config) { c.DatacenterURL = "ftp://eu8-cloud.example.com" }},
		{"query", func(c *client.Config) { c.DatacenterURL = "https://eu8-cloud.example.com/?x=1" }},
		{"user info", func(c *client.Config) { c.DatacenterURL = "https://u:p@eu8-cloud.example.com" }},
		{"empty", func(c *client.Config) { c.DatacenterURL = "" }},
		{"no id", func(c *client.Config) { c.ClientID = "" }},
		{"no secret", func(c *client.Config) { c.ClientSecret = "" }},
		{"auth method", func(c *client.Config) { c.AuthMethod = "private_key_jwt" }},
		{"negative early expiry", func(c *client.Config) { c.EarlyExpiry = -time.Second }},
		{"negative retry wait", func(c *client.Config) { c.MaxRetryWait = -time.Second }},
	} {
		cfg := good
		bad.mod(&cfg)
		if _, err := client.New(cfg); err == nil {
			t.Errorf("%s: New succeeded, want an error", bad.name)
		} else if strings.Contains(err.Error(), cfg.ClientSecret) && cfg.ClientSecret != "" {
			t.Errorf("%s: error %q contains the secret", bad.name, err)
		}
	}
}

func TestTokenRequestEncodesBasicCredentials(t *testing.T) {
	const id, secret = "a b:c%", "p&ss=w:rd+/é%"
	var got *http.Request
	var form url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		_ = r.ParseForm()
		form = r.PostForm
		writeJSON(w, http.StatusOK, api.TokenResponse{AccessToken: "t", TokenType: "bearer", ExpiresIn: 7200})
	}))
	defer srv.Close()

	c, err := client.New(client.Config{DatacenterURL: srv.URL, ClientID: id, ClientSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.FetchToken(context.Background()); err != nil {
		t.Fatalf("FetchToken: %v", err)
	}

	if got.Method != http.MethodPost || got.URL.Path != "/bc/idp/token" {
		t.Errorf("request = %s %s, want POST /bc/idp/token", got.Method, got.URL.Path)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", ct)
	}
	if form.Get("grant_type") != "client_credentials" || form.Has("client_secret") {
		t.Errorf("form = %v, want grant_type=client_credentials only", form)
	}
	// RFC 6749 2.3.1: form-urlencode, then join with ":", then base64.
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("a+b%3Ac%25:p%26ss%3Dw%3Ard%2B%2F%C3%A9%25"))
	if h := got.Header.Get("Authorization"); h != want {
		t.Errorf("Authorization = %q, want %q", h, want)
	}
	u, p, _ := got.BasicAuth()
	if u, _ = url.QueryUnescape(u); u != id {
		t.Errorf("decoded id = %q, want %q", u, id)
	}
	if p, _ = url.QueryUnescape(p); p != secret {
		t.Errorf("decoded secret = %q, want %q", p, secret)
	}
}

func TestTokenRequestClientSecretPost(t *testing.T) {
	f := newFakeDC(t)
	c := f.client(t, func(cfg *client.Config) { cfg.AuthMethod = client.AuthSecretPost })
	if _, err := c.FetchToken(context.Background()); err != nil {
		t.Fatalf("FetchToken with client_secret_post: %v", err)
	}
}

func TestTokenIsCached(t *testing.T) {
	f := newFakeDC(t)
	c := f.client(t, nil)
	ctx := context.Background()
	for i := range 10 {
		tok, err := c.Token(ctx)
		if err != nil {
			t.Fatalf("Token #%d: %v", i, err)
		}
		if tok.AccessToken != "token-1" {
			t.Fatalf("Token #%d = %q, want token-1", i, tok.AccessToken)
		}
		// Callers get copies: changing one must not change the cache.
		tok.AccessToken = "scribbled"
		if _, err := c.Accounts().Get(ctx, "x"); err != nil {
			t.Fatalf("GetClient #%d: %v", i, err)
		}
	}
	if n := f.tokenHits.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
	// FetchToken bypasses the cache.
	if tok, err := c.FetchToken(ctx); err != nil || tok.AccessToken != "token-2" {
		t.Errorf("FetchToken = %v, %v; want token-2", tok, err)
	}
}

func TestTokenSharedFetch(t *testing.T) {
	f := newFakeDC(t)
	f.tokenGate = make(chan struct{})
	f.tokenStarted = make(chan struct{}, 100)
	c := f.client(t, nil)

	const callers = 50
	var ready, done sync.WaitGroup
	ready.Add(callers)
	errs := make(chan error, callers)
	for range callers {
		done.Go(func() {
			ready.Done()
			tok, err := c.Token(context.Background())
			if err == nil && tok.AccessToken != "token-1" {
				err = fmt.Errorf("got %q, want token-1", tok.AccessToken)
			}
			errs <- err
		})
	}
	ready.Wait()
	<-f.tokenStarted
	// Give the remaining callers time to pile up behind the held request.
	time.Sleep(50 * time.Millisecond)
	close(f.tokenGate)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := f.tokenHits.Load(); n != 1 {
		t.Errorf("token requests = %d, want exactly 1", n)
	}
}

func TestTokenFetchOutlivesCallerContext(t *testing.T) {
	f := newFakeDC(t)
	f.tokenGate = make(chan struct{})
	f.tokenStarted = make(chan struct{}, 10)
	c := f.client(t, nil)

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := c.Token(ctx)
		first <- err
	}()
	<-f.tokenStarted
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: err = %v, want context.Canceled", err)
	}

	second := make(chan error, 1)
	go func() {
		_, err := c.Token(context.Background())
		second <- err
	}()
	close(f.tokenGate)
	if err := <-second; err != nil {
		t.Fatalf("second caller: %v (the shared fetch must not die with the first caller)", err)
	}
	if n := f.tokenHits.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
}

func TestTokenRefreshedAfterEarlyExpiryWindow(t *testing.T) {
	clk := testkit.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	f := newFakeDC(t)
	f.now = clk.Now
	f.expiresIn = 3600
	c := f.client(t, func(cfg *client.Config) {
		cfg.Now = clk.Now
		cfg.EarlyExpiry = 5 * time.Minute
	})
	ctx := context.Background()
	get := func() string {
		t.Helper()
		tok, err := c.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}

	if got := get(); got != "token-1" {
		t.Fatalf("first token = %q", got)
	}
	clk.Advance(55*time.Minute - time.Second)
	if got := get(); got != "token-1" {
		t.Errorf("just before the early window: token = %q, want the cached token-1", got)
	}
	clk.Advance(time.Second)
	if got := get(); got != "token-2" {
		t.Errorf("inside the early window: token = %q, want a fresh token-2", got)
	}
	if n := f.tokenHits.Load(); n != 2 {
		t.Errorf("token requests = %d, want 2", n)
	}
}

func TestEarlyExpiryIsAtMostHalfTheLifetime(t *testing.T) {
	clk := testkit.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	f := newFakeDC(t)
	f.now = clk.Now
	f.expiresIn = 60 // shorter than the default 5-minute window
	c := f.client(t, func(cfg *client.Config) { cfg.Now = clk.Now })
	ctx := context.Background()

	for range 3 {
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.tokenHits.Load(); n != 1 {
		t.Fatalf("a 60s token was not reused: %d token requests", n)
	}
	clk.Advance(29 * time.Second)
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.tokenHits.Load(); n != 1 {
		t.Errorf("at 29s of 60s: %d token requests, want 1", n)
	}
	clk.Advance(time.Second)
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.tokenHits.Load(); n != 2 {
		t.Errorf("at 30s of 60s: %d token requests, want 2", n)
	}
}

// The cached expiry is the earlier of send time + expires_in and
// expires_on. The data center's clock differs from the client's by skew;
// its expires_on is its own clock's reading.
func TestTokenExpiryIsEarlierOfExpiresInAndExpiresOn(t *testing.T) {
	for _, tc := range []struct {
		name        string
		expiresIn   int64
		skew        time.Duration // data center clock minus client clock
		noExpiresOn bool
		lifetime    time.Duration // 0: the token is not reused
	}{
		{name: "clocks agree", expiresIn: 3600, lifetime: time.Hour},
		{name: "client clock ahead: expires_on is earlier", expiresIn: 3600, skew: -10 * time.Minute, lifetime: 50 * time.Minute},
		{name: "client clock behind: expires_in is earlier", expiresIn: 3600, skew: time.Hour, lifetime: time.Hour},
		{name: "expires_on alone", expiresIn: 0, lifetime: time.Hour},
		{name: "expires_in alone", expiresIn: 3600, noExpiresOn: true, lifetime: time.Hour},
		// An expires_on already past when the request was sent only says
		// the client's clock is far ahead: expires_in governs.
		{name: "expires_on before the send time", expiresIn: 3600, skew: -2 * time.Hour, lifetime: time.Hour},
		{name: "neither", expiresIn: 0, noExpiresOn: true},
		{name: "expires_on alone, already past", expiresIn: 0, skew: -2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := testkit.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := hits.Add(1)
				tok := api.TokenResponse{AccessToken: fmt.Sprintf("token-%d", n), TokenType: "bearer", ExpiresIn: tc.expiresIn}
				if !tc.noExpiresOn {
					tok.ExpiresOn = clk.Now().Add(tc.skew).Add(time.Hour).Unix()
				}
				writeJSON(w, http.StatusOK, tok)
			}))
			defer srv.Close()
			c, err := client.New(client.Config{
				DatacenterURL: srv.URL, ClientID: testID, ClientSecret: testSecret,
				EarlyExpiry: 5 * time.Minute, Now: clk.Now,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := c.Token(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.lifetime == 0 {
				if _, err := c.Token(ctx); err != nil {
					t.Fatal(err)
				}
				if n := hits.Load(); n != 2 {
					t.Errorf("token requests = %d, want 2: a token without a usable expiry is not reused", n)
				}
				return
			}
			clk.Advance(tc.lifetime - 5*time.Minute - time.Second)
			if _, err := c.Token(ctx); err != nil {
				t.Fatal(err)
			}
			if n := hits.Load(); n != 1 {
				t.Fatalf("1s before the early window: %d token requests, want 1", n)
			}
			clk.Advance(time.Second)
			if _, err := c.Token(ctx); err != nil {
				t.Fatal(err)
			}
			if n := hits.Load(); n != 2 {
				t.Errorf("at expiry minus the early window: %d token requests, want 2", n)
			}
		})
	}
}

func TestTokenSourceExpiry(t *testing.T) {
	clk := testkit.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	f := newFakeDC(t)
	f.now = clk.Now
	f.expiresIn = 3600
	c := f.client(t, func(cfg *client.Config) { cfg.Now = clk.Now; cfg.EarlyExpiry = 10 * time.Minute })
	tok, err := c.OAuth2TokenSource().Token()
	if err != nil {
		t.Fatal(err)
	}
	// The refresh time, so that a cache on top replaces it when we do.
	if want := clk.Now().Add(50 * time.Minute); tok.AccessToken != "token-1" || tok.TokenType != "Bearer" || !tok.Expiry.Equal(want) {
		t.Errorf("token = {%q %q %v}, want {token-1 Bearer %v}", tok.AccessToken, tok.TokenType, tok.Expiry, want)
	}

	// A token that is not reused must not look reusable to x/oauth2.
	f.expiresIn = 0
	c = f.client(t, func(cfg *client.Config) { cfg.Now = clk.Now })
	if tok, err = c.OAuth2TokenSource().Token(); err != nil {
		t.Fatal(err)
	}
	if tok.Expiry.IsZero() || tok.Expiry.After(clk.Now()) {
		t.Errorf("uncacheable token has Expiry %v, want a time not after now (%v)", tok.Expiry, clk.Now())
	}
}

func TestTokenWithoutExpiryIsNotCached(t *testing.T) {
	f := newFakeDC(t)
	f.expiresIn = 0
	c := f.client(t, nil)
	for range 3 {
		if _, err := c.Token(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.tokenHits.Load(); n != 3 {
		t.Errorf("token requests = %d, want 3 (no expiry means no caching)", n)
	}
}

func TestTransportRetriesOnceOnInvalidToken(t *testing.T) {
	f := newFakeDC(t)
	c := f.client(t, nil)
	ctx := context.Background()
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	f.revoke("token-1") // as if the secret had been regenerated

	disabled := "disabled"
	got, err := c.Accounts().Update(ctx, "some id", api.UpdateClientRequest{Status: &disabled})
	if err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	if got.ClientID != "some%20id" {
		t.Errorf("path id = %q, want the escaped some%%20id", got.ClientID)
	}
	if n := f.tokenHits.Load(); n != 2 {
		t.Errorf("token requests = %d, want 2", n)
	}
	if n := f.apiHits.Load(); n != 2 {
		t.Errorf("API requests = %d, want 2 (the refused one and its retry)", n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, b := range f.lastBody {
		if b != `{"status":"disabled"}` {
			t.Errorf("body of request %d = %q, want it replayed intact", i, b)
		}
	}
}

func TestTransportRetriesOnlyOnce(t *testing.T) {
	f := newFakeDC(t)
	c := f.client(t, nil)
	for i := 1; i <= 5; i++ {
		f.revoke(fmt.Sprintf("token-%d", i))
	}
	_, err := c.Accounts().Get(context.Background(), "x")
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 401 || e.Code != "tokenRevoked" {
		t.Fatalf("err = %v, want a 401 tokenRevoked *client.Error", err)
	}
	if n := f.apiHits.Load(); n != 2 {
		t.Errorf("API requests = %d, want 2", n)
	}
}

func TestTransportDoesNotRetryUnreplayableBody(t *testing.T) {
	f := newFakeDC(t)
	c := f.client(t, nil)
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.revoke("token-1")

	// io.NopCloser hides the reader's type, so NewRequest sets no GetBody.
	req, _ := http.NewRequest(http.MethodPut, f.srv.URL+"/api/2/clients/x", io.NopCloser(strings.NewReader(`{}`)))
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status = %d, want the 401 passed through", resp.StatusCode)
	}
	if n := f.apiHits.Load(); n != 1 {
		t.Errorf("API requests = %d, want 1", n)
	}
}

func TestTransportDoesNotRetryOtherFailures(t *testing.T) {
	var hits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bc/idp/token", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, api.TokenResponse{AccessToken: "t", TokenType: "bearer", ExpiresIn: 7200})
	})
	mux.HandleFunc("/api/2/clients/", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="insufficient_scope"`)
		writeJSON(w, http.StatusForbidden, api.ErrorBody{Error: api.ErrorDetail{Code: "authorizationFailed", Message: "Not allowed."}})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, _ := client.New(client.Config{DatacenterURL: srv.URL, ClientID: "id", ClientSecret: "secret"})

	_, err := c.Accounts().Get(context.Background(), "x")
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 403 || e.Code != "authorizationFailed" {
		t.Fatalf("err = %v, want 403 authorizationFailed", err)
	}
	if hits.Load() != 1 {
		t.Errorf("API requests = %d, want 1", hits.Load())
	}
}

func TestTransportSendsTokenOnlyToDatacenter(t *testing.T) {
	f := newFakeDC(t)
	var auth atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
	}))
	defer other.Close()
	c := f.client(t, nil)

	resp, err := c.HTTPClient().Get(other.URL + "/anything")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := auth.Load(); got != "" {
		t.Errorf("another origin received Authorization %q", got)
	}
	if n := f.tokenHits.Load(); n != 0 {
		t.Errorf("token requests = %d, want none for a foreign origin", n)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		path        string // the request made: "token" or an account API path
		status      int
		contentType string
		header      string // WWW-Authenticate
		body        string
		wantCode    string
		wantMessage string
	}{
		{
			name: "oauth body", path: "token", status: 401, contentType: "application/json",
			header:   `Basic realm="gatehouse"`,
			body:     `{"error":"invalid_client","error_description":"Client authentication failed."}`,
			wantCode: "invalid_client", wantMessage: "Client authentication failed.",
		},
		{
			name: "account body", path: "/api/2/clients/x", status: 404, contentType: "application/json",
			body:     `{"error":{"code":"notFound","message":"Client not found.","domain":"Gatehouse"}}`,
			wantCode: "notFound", wantMessage: "Client not found.",
		},
		{
			name: "account body with details", path: "/api/2/clients/x", status: 400, contentType: "application/json",
			body:     `{"error":{"code":"validationError","message":"Invalid body.","details":{"info":"status must be enabled or disabled"}}}`,
			wantCode: "validationError", wantMessage: "Invalid body. (status must be enabled or disabled)",
		},
		{
			name: "non-JSON body", path: "/api/2/clients/x", status: 502, contentType: "text/html",
			body:     "<html>Bad Gateway</html>",
			wantCode: "", wantMessage: "Bad Gateway (non-JSON response, text/html)",
		},
		{
			name: "empty body, bearer challenge", path: "/api/2/clients/x", status: 401,
			header:   `Bearer realm="gatehouse", error="invalid_request", error_description="Malformed \"Authorization\" header."`,
			wantCode: "invalid_request", wantMessage: `Malformed "Authorization" header.`,
		},
		{
			name: "secret, token and line breaks in the message", path: "token", status: 400, contentType: "application/json",
			body:     `{"error":"invalid_request","error_description":"bad secret ` + testSecret + `\nand token eyJhbGciOi.eyJzdWIi.c2ln"}`,
			wantCode: "invalid_request", wantMessage: "bad secret [redacted] and token [redacted]",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			respond := func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				if tc.header != "" {
					w.Header().Set("WWW-Authenticate", tc.header)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}
			if tc.path == "token" {
				mux.HandleFunc("POST /bc/idp/token", respond)
			} else {
				mux.HandleFunc("POST /bc/idp/token", func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, http.StatusOK, api.TokenResponse{AccessToken: "t", TokenType: "bearer", ExpiresIn: 7200})
				})
				mux.HandleFunc(tc.path, respond)
			}
			srv := httptest.NewServer(mux)
			defer srv.Close()
			c, _ := client.New(client.Config{DatacenterURL: srv.URL, ClientID: testID, ClientSecret: testSecret})

			var err error
			if tc.path == "token" {
				_, err = c.Token(context.Background())
			} else {
				_, err = c.Accounts().Get(context.Background(), "x")
			}
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %T %v, want *client.Error", err, err)
			}
			if e.StatusCode != tc.status || e.Code != tc.wantCode || e.Message != tc.wantMessage {
				t.Errorf("got {%d %q %q}, want {%d %q %q}", e.StatusCode, e.Code, e.Message, tc.status, tc.wantCode, tc.wantMessage)
			}
			s := err.Error()
			if strings.ContainsAny(s, "\r\n") || strings.Contains(s, testSecret) || strings.Contains(s, "eyJ") {
				t.Errorf("Error() = %q: want one line without secrets or tokens", s)
			}
			if !strings.HasPrefix(s, fmt.Sprint(tc.status)) {
				t.Errorf("Error() = %q, want it to start with the status", s)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	e := &client.Error{StatusCode: 401, Code: "invalid_client", Message: "Client authentication failed."}
	if got, want := e.Error(), "401 invalid_client: Client authentication failed."; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestResponseBodyIsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"`)
		chunk := strings.Repeat("A", 64<<10)
		for range 64 { // 4 MiB
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
		io.WriteString(w, `","expires_in":7200}`)
	}))
	defer srv.Close()
	c, _ := client.New(client.Config{DatacenterURL: srv.URL, ClientID: "id", ClientSecret: "secret"})
	_, err := c.Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("err = %v, want a body-size error", err)
	}
}

func TestClientHelpers(t *testing.T) {
	type seen struct{ method, path, query, body string }
	var mu sync.Mutex
	var reqs []seen
	created := time.Date(2019, 8, 24, 1, 23, 15, 0, time.UTC)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bc/idp/token", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, api.TokenResponse{AccessToken: "t", TokenType: "bearer", ExpiresIn: 7200})
	})
	mux.HandleFunc("/api/2/clients", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b)})
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer t" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.Method {
		case http.MethodPost:
			writeJSON(w, http.StatusCreated, api.Client{ClientID: "new", ClientSecret: "shown-once", Status: "enabled", CreatedAt: created})
		case http.MethodGet:
			switch r.URL.Query().Get("after") {
			case "":
				writeJSON(w, http.StatusOK, api.ClientList{Items: []api.Client{{ClientID: "a"}, {ClientID: "b"}}, Paging: &api.Paging{Cursors: api.Cursors{After: "b"}}})
			case "b":
				writeJSON(w, http.StatusOK, api.ClientList{Items: []api.Client{{ClientID: "c"}}})
			}
		}
	})
	mux.HandleFunc("/api/2/clients/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b)})
		mu.Unlock()
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case strings.HasSuffix(r.URL.Path, "/secret"):
			writeJSON(w, http.StatusOK, api.SecretResponse{ClientID: "a/b c", ClientSecret: "fresh"})
		default:
			writeJSON(w, http.StatusOK, api.Client{ClientID: "a/b c", Status: "disabled"})
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, _ := client.New(client.Config{DatacenterURL: srv.URL + "/", ClientID: "id", ClientSecret: "secret"})
	ctx := context.Background()

	cl, err := c.Accounts().Create(ctx, api.CreateClientRequest{TenantID: "t1", Data: json.RawMessage(`{"client_name":"My app"}`)})
	if err != nil || cl.ClientSecret != "shown-once" || !cl.CreatedAt.Equal(created) {
		t.Errorf("CreateClient = %+v, %v", cl, err)
	}
	list, err := c.Accounts().List(ctx)
	if err != nil || len(list.Items) != 3 || list.Items[2].ClientID != "c" || list.Paging != nil {
		t.Errorf("ListClients = %+v, %v; want a, b, c from two pages", list, err)
	}
	if _, err := c.Accounts().Get(ctx, "a/b c"); err != nil {
		t.Errorf("GetClient: %v", err)
	}
	disabled := "disabled"
	if cl, err := c.Accounts().Update(ctx, "a/b c", api.UpdateClientRequest{Status: &disabled}); err != nil || cl.Status != "disabled" {
		t.Errorf("UpdateClient = %+v, %v", cl, err)
	}
	if s, err := c.Accounts().RegenerateSecret(ctx, "a/b c"); err != nil || s.ClientSecret != "fresh" {
		t.Errorf("RegenerateSecret = %+v, %v", s, err)
	}
	if err := c.Accounts().Delete(ctx, "a/b c"); err != nil {
		t.Errorf("DeleteClient: %v", err)
	}
	if err := c.Accounts().Delete(ctx, ""); err == nil {
		t.Error("DeleteClient(\"\") succeeded")
	}

	want := []seen{
		{"POST", "/api/2/clients", "", `{"type":"api_client","tenant_id":"t1","data":{"client_name":"My app"}}`},
		{"GET", "/api/2/clients", "", ""},
		{"GET", "/api/2/clients", "after=b", ""},
		{"GET", "/api/2/clients/a%2Fb%20c", "", ""},
		{"PUT", "/api/2/clients/a%2Fb%20c", "", `{"status":"disabled"}`},
		{"POST", "/api/2/clients/a%2Fb%20c/secret", "", ""},
		{"DELETE", "/api/2/clients/a%2Fb%20c", "", ""},
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reqs) != len(want) {
		t.Fatalf("requests = %+v, want %+v", reqs, want)
	}
	for i := range want {
		if reqs[i] != want[i] {
			t.Errorf("request %d = %+v, want %+v", i, reqs[i], want[i])
		}
	}
}

func TestListClientsStopsOnRepeatedCursor(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bc/idp/token", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, api.TokenResponse{AccessToken: "t", TokenType: "bearer", ExpiresIn: 7200})
	})
	mux.HandleFunc("GET /api/2/clients", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, api.ClientList{Items: []api.Client{{ClientID: "a"}}, Paging: &api.Paging{Cursors: api.Cursors{After: "a"}}})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, _ := client.New(client.Config{DatacenterURL: srv.URL, ClientID: "id", ClientSecret: "secret"})
	if _, err := c.Accounts().List(context.Background()); err == nil {
		t.Error("ListClients succeeded on a server that repeats its cursor")
	}
}

func TestUnexpectedSuccessStatus(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bc/idp/token", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, api.TokenResponse{AccessToken: "t", TokenType: "bearer", ExpiresIn: 7200})
	})
	mux.HandleFunc("POST /api/2/clients", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, api.Client{ClientID: "a"})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, _ := client.New(client.Config{DatacenterURL: srv.URL, ClientID: "id", ClientSecret: "secret"})
	_, err := c.Accounts().Create(context.Background(), api.CreateClientRequest{})
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 200 {
		t.Errorf("err = %v, want a *client.Error for 200 instead of 201", err)
	}
}
