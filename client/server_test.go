package client_test

// Tests against a real data center: the server, service and SQLite store
// of this repository, in process, over real HTTP on a loopback listener.
// The harness is a trimmed copy of server/harness_test.go.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// realDC is one data center (internal/testdc) whose clock the test and the
// SDK share.
type realDC struct {
	URL   string
	clock *testkit.Clock
	admin testdc.Creds
}

// newRealDC starts a data center on a fresh SQLite file with a
// bootstrapped admin client. Its tokens live two hours.
func newRealDC(t *testing.T) *realDC {
	t.Helper()
	// Whole seconds, as in the tokens' NumericDate claims and expires_on,
	// so that moving the clock by whole minutes lands exactly on the
	// refresh time.
	d := testdc.Start(t, testdc.Options{ClockStart: time.Now().Truncate(time.Second)})
	return &realDC{URL: d.URL, clock: d.Clock, admin: d.Admin}
}

// counter is the RoundTripper under an SDK client: it counts token
// requests and account API requests by path, and can hold token requests
// until the test lets them go.
type counter struct {
	base   http.RoundTripper
	tokens atomic.Int64
	calls  atomic.Int64

	mu      sync.Mutex
	hold    chan struct{} // when set, token requests wait for it to close
	started chan struct{} // when set, receives once per held token request
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == "/bc/idp/token" {
		c.tokens.Add(1)
		c.mu.Lock()
		hold, started := c.hold, c.started
		c.mu.Unlock()
		if hold != nil {
			started <- struct{}{}
			<-hold
		}
	} else {
		c.calls.Add(1)
	}
	return c.base.RoundTrip(req)
}

// holdTokens makes token requests wait until the returned release is
// called; started receives when each one arrives.
func (c *counter) holdTokens() (started <-chan struct{}, release func()) {
	hold, st := make(chan struct{}), make(chan struct{}, 1000)
	c.mu.Lock()
	c.hold, c.started = hold, st
	c.mu.Unlock()
	return st, func() {
		c.mu.Lock()
		c.hold = nil
		c.mu.Unlock()
		close(hold)
	}
}

// sdk builds an SDK client for cr on the data center's clock, counting its
// requests.
func (d *realDC) sdk(t *testing.T, cr testdc.Creds, mod func(*client.Config)) (*client.Client, *counter) {
	t.Helper()
	cnt := &counter{base: http.DefaultTransport}
	cfg := client.Config{
		DatacenterURL: d.URL, ClientID: cr.ID, ClientSecret: cr.Secret,
		HTTPClient: &http.Client{Transport: cnt, Timeout: 10 * time.Second},
		Now:        d.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, cnt
}

// app creates an API client without a management role, as the admin,
// through the SDK.
func (d *realDC) app(t *testing.T, admin *client.Client) testdc.Creds {
	t.Helper()
	cl, err := admin.Accounts().Create(context.Background(), api.CreateClientRequest{Data: json.RawMessage(`{"client_name":"app"}`)})
	if err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	if cl.ClientSecret == "" {
		t.Fatal("CreateClient returned no secret")
	}
	return testdc.Creds{ID: cl.ClientID, Secret: cl.ClientSecret}
}

func TestServerTokenReused(t *testing.T) {
	d := newRealDC(t)
	c, cnt := d.sdk(t, d.admin, nil)
	ctx := context.Background()

	for i := range 10 {
		cl, err := c.Accounts().Get(ctx, d.admin.ID)
		if err != nil {
			t.Fatalf("GetClient #%d: %v", i, err)
		}
		if cl.ClientID != d.admin.ID {
			t.Fatalf("GetClient #%d = %q", i, cl.ClientID)
		}
	}
	// Plain requests through HTTPClient use the same cached token.
	hc := c.HTTPClient()
	for i := range 10 {
		resp, err := hc.Get(d.URL + "/api/2/clients")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/2/clients #%d: %d", i, resp.StatusCode)
		}
	}
	if n := cnt.tokens.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1 for 20 API calls", n)
	}
	if n := cnt.calls.Load(); n != 20 {
		t.Errorf("API requests = %d, want 20", n)
	}
}

func TestServerTokenRefreshedBeforeExpiry(t *testing.T) {
	d := newRealDC(t)
	c, cnt := d.sdk(t, d.admin, func(cfg *client.Config) { cfg.EarlyExpiry = 5 * time.Minute })
	ctx := context.Background()

	first, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := d.clock.Now().Add(2 * time.Hour).Unix(); first.ExpiresOn != want || first.ExpiresIn != 7200 {
		t.Fatalf("token expires_on %d, expires_in %d; want %d, 7200", first.ExpiresOn, first.ExpiresIn, want)
	}
	// One second before expires_on minus the early window: still cached.
	d.clock.Advance(2*time.Hour - 5*time.Minute - time.Second)
	if _, err := c.Accounts().Get(ctx, d.admin.ID); err != nil {
		t.Fatal(err)
	}
	if n := cnt.tokens.Load(); n != 1 {
		t.Fatalf("before the early window: %d token requests, want 1", n)
	}
	// At expires_on minus the early window: replaced, and the old token,
	// still valid at the server for five minutes, is no longer sent.
	d.clock.Advance(time.Second)
	if _, err := c.Accounts().Get(ctx, d.admin.ID); err != nil {
		t.Fatal(err)
	}
	if n := cnt.tokens.Load(); n != 2 {
		t.Fatalf("in the early window: %d token requests, want 2", n)
	}
	second, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessToken == first.AccessToken || second.ExpiresOn != d.clock.Now().Add(2*time.Hour).Unix() {
		t.Errorf("after the refresh: same token %v, expires_on %d", second.AccessToken == first.AccessToken, second.ExpiresOn)
	}
}

func TestServerConcurrentCallersShareOneTokenRequest(t *testing.T) {
	d := newRealDC(t)
	c, cnt := d.sdk(t, d.admin, nil)

	// run has 100 callers make an API call at once while the token request
	// is held, so that they all find the cache empty or stale.
	run := func(round string) {
		t.Helper()
		started, release := cnt.holdTokens()
		const callers = 100
		errs := make(chan error, callers)
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				_, err := c.Accounts().Get(context.Background(), d.admin.ID)
				errs <- err
			})
		}
		<-started
		// Let the other callers pile up behind the held request.
		time.Sleep(100 * time.Millisecond)
		release()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("%s: %v", round, err)
			}
		}
	}

	run("first token")
	if n := cnt.tokens.Load(); n != 1 {
		t.Errorf("first token: %d token requests for 100 callers, want 1", n)
	}
	// Into the early-expiry window: the cached token is stale, and its
	// replacement is shared the same way.
	d.clock.Advance(2*time.Hour - client.DefaultEarlyExpiry)
	run("refresh")
	if n := cnt.tokens.Load(); n != 2 {
		t.Errorf("refresh: %d token requests in all, want 2", n)
	}
	if n := cnt.calls.Load(); n != 200 {
		t.Errorf("API requests = %d, want 200", n)
	}
}

func TestServerRetriesOnceWithFreshTokenAfterRevocation(t *testing.T) {
	d := newRealDC(t)
	ctx := context.Background()
	admin, _ := d.sdk(t, d.admin, nil)
	appCreds := d.app(t, admin)
	app, cnt := d.sdk(t, appCreds, nil)

	if _, err := app.Accounts().Get(ctx, appCreds.ID); err != nil {
		t.Fatalf("GetClient before revocation: %v", err)
	}
	// Disabling revokes every token issued so far; enabling again does not
	// bring them back. The app's cached token is now refused with 401
	// invalid_token (tokenRevoked), though it has not expired.
	for _, status := range []string{"disabled", "enabled"} {
		if _, err := admin.Accounts().Update(ctx, appCreds.ID, api.UpdateClientRequest{Status: &status}); err != nil {
			t.Fatalf("set status %s: %v", status, err)
		}
	}
	tokens, calls := cnt.tokens.Load(), cnt.calls.Load()

	cl, err := app.Accounts().Get(ctx, appCreds.ID)
	if err != nil {
		t.Fatalf("GetClient after revocation: %v (want a transparent retry with a fresh token)", err)
	}
	if cl.Status != "enabled" {
		t.Errorf("status = %q", cl.Status)
	}
	if n := cnt.tokens.Load() - tokens; n != 1 {
		t.Errorf("token requests for the call = %d, want 1", n)
	}
	if n := cnt.calls.Load() - calls; n != 2 {
		t.Errorf("API requests for the call = %d, want 2: the refused one and exactly one retry", n)
	}

	// Disabled for good: the retry cannot get a token, and the caller sees
	// the data center's refusal of the request itself.
	disabled := "disabled"
	if _, err := admin.Accounts().Update(ctx, appCreds.ID, api.UpdateClientRequest{Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	calls = cnt.calls.Load()
	_, err = app.Accounts().Get(ctx, appCreds.ID)
	e, ok := errors.AsType[*client.Error](err)
	if !ok || e.StatusCode != http.StatusUnauthorized || e.Code != gatehouse.CodeClientDisabled {
		t.Errorf("GetClient by a disabled client: err = %v, want a 401 %s *client.Error", err, gatehouse.CodeClientDisabled)
	}
	if n := cnt.calls.Load() - calls; n != 1 {
		t.Errorf("API requests by the disabled client = %d, want 1 (no retry without a fresh token)", n)
	}
}

func TestServerTypedErrors(t *testing.T) {
	d := newRealDC(t)
	ctx := context.Background()

	wrong, _ := d.sdk(t, testdc.Creds{ID: d.admin.ID, Secret: d.admin.Secret + "x"}, nil)
	_, err := wrong.Token(ctx)
	if e, ok := errors.AsType[*client.Error](err); !ok || e.StatusCode != http.StatusUnauthorized || e.Code != "invalid_client" {
		t.Errorf("Token with a wrong secret: err = %v, want a 401 invalid_client *client.Error", err)
	}
	_, err = wrong.Accounts().Get(ctx, d.admin.ID)
	if e, ok := errors.AsType[*client.Error](err); !ok || e.Code != "invalid_client" {
		t.Errorf("GetClient with a wrong secret: err = %v, want the token request's invalid_client", err)
	}
	if err != nil && strings.Contains(err.Error(), d.admin.Secret) {
		t.Errorf("error %q contains the secret", err)
	}

	admin, _ := d.sdk(t, d.admin, nil)
	appCreds := d.app(t, admin)
	app, _ := d.sdk(t, appCreds, nil)
	// Only tenant admins may list or create clients.
	_, err = app.Accounts().List(ctx)
	if e, ok := errors.AsType[*client.Error](err); !ok || e.StatusCode != http.StatusForbidden || e.Code != "authorizationFailed" {
		t.Errorf("ListClients without the admin role: err = %v, want a 403 authorizationFailed *client.Error", err)
	}
	_, err = admin.Accounts().Get(ctx, "no-such-client")
	if e, ok := errors.AsType[*client.Error](err); !ok || e.StatusCode != http.StatusNotFound || e.Code != "notFound" {
		t.Errorf("GetClient of an unknown client: err = %v, want a 404 notFound *client.Error", err)
	}
}

func TestServerOAuth2TokenSource(t *testing.T) {
	d := newRealDC(t)
	c, cnt := d.sdk(t, d.admin, nil)
	ctx := context.Background()

	ts := c.OAuth2TokenSource()
	tok, err := ts.Token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	want := d.clock.Now().Add(2*time.Hour - client.DefaultEarlyExpiry)
	if tok.TokenType != "Bearer" || !tok.Expiry.Equal(want) || tok.Extra("id_token") == nil {
		t.Errorf("token type %q, expiry %v, id_token %v; want Bearer, %v (the refresh time), an id_token",
			tok.TokenType, tok.Expiry, tok.Extra("id_token") != nil, want)
	}

	hc := oauth2.NewClient(ctx, ts)
	for range 3 {
		cl := getClient(t, hc, d.URL, d.admin.ID)
		if cl.ClientID != d.admin.ID {
			t.Errorf("client_id = %q, want %q", cl.ClientID, d.admin.ID)
		}
	}
	// The SDK's own calls share the cache with the oauth2 client.
	if _, err := c.Accounts().Get(ctx, d.admin.ID); err != nil {
		t.Fatal(err)
	}
	if n := cnt.tokens.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1 shared by the TokenSource and the SDK", n)
	}

	// Errors keep their type through oauth2's transport.
	wrong, _ := d.sdk(t, testdc.Creds{ID: d.admin.ID, Secret: "wrong-secret"}, nil)
	_, err = oauth2.NewClient(ctx, wrong.OAuth2TokenSource()).Get(d.URL + "/api/2/clients")
	if e, ok := errors.AsType[*client.Error](err); !ok || e.Code != "invalid_client" {
		t.Errorf("oauth2 client with a wrong secret: err = %v, want an invalid_client *client.Error", err)
	}
}

// A third-party OAuth2 client, knowing nothing of this SDK, obtains a token
// from Gatehouse and uses it.
func TestServerThirdPartyClientCredentials(t *testing.T) {
	d := newRealDC(t)
	ctx := context.Background()
	cfg := clientcredentials.Config{
		ClientID:     d.admin.ID,
		ClientSecret: d.admin.Secret,
		TokenURL:     d.URL + "/bc/idp/token",
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatalf("clientcredentials Token: %v", err)
	}
	if tok.Type() != "Bearer" || tok.Expiry.IsZero() || !tok.Valid() {
		t.Errorf("token type %q, expiry %v, valid %v", tok.Type(), tok.Expiry, tok.Valid())
	}
	cl := getClient(t, cfg.Client(ctx), d.URL, d.admin.ID)
	if cl.ClientID != d.admin.ID || cl.Status != "enabled" {
		t.Errorf("client = %+v", cl)
	}

	cfg.ClientSecret = "wrong"
	_, err = cfg.Token(ctx)
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); !ok || re.ErrorCode != "invalid_client" {
		t.Errorf("wrong secret: err = %v, want an oauth2.RetrieveError invalid_client", err)
	}
}

// getClient does GET /api/2/clients/{id} with hc.
func getClient(t *testing.T, hc *http.Client, dc, id string) api.Client {
	t.Helper()
	resp, err := hc.Get(dc + "/api/2/clients/" + url.PathEscape(id))
	if err != nil {
		t.Fatalf("GET client: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET client: %d %s", resp.StatusCode, body)
	}
	var cl api.Client
	if err := json.Unmarshal(body, &cl); err != nil {
		t.Fatalf("GET client: %v", err)
	}
	return cl
}
