// Package client is the Go SDK for apps that authenticate to a Gatehouse
// data center with API-client credentials (the platform's "CyberApp"
// credentials) and then call that data center's API.
//
// A Client obtains access tokens with the client_credentials grant, keeps
// one until shortly before it expires, and shares a single token request
// among concurrent callers. HTTPClient returns an *http.Client that adds the
// bearer token to every request sent to the data center, and the account
// API helpers (CreateClient, ListClients, ...) are built on it.
package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/api"
)

// DefaultEarlyExpiry is how long before its expiry a cached token is
// replaced when Config.EarlyExpiry is zero. It covers clock skew and the
// time a request spends in flight, so a token is never sent just as it
// expires.
const DefaultEarlyExpiry = 5 * time.Minute

// tokenTimeout bounds a shared token request. The shared request runs
// detached from its callers' contexts, so without a bound of its own a
// hung server would hold every later caller's flight open forever.
const tokenTimeout = 30 * time.Second

// maxBody bounds every response body the SDK reads, so a hostile or broken
// server cannot exhaust the app's memory.
const maxBody = 1 << 20

// Authentication methods at the token endpoint (RFC 7591
// token_endpoint_auth_method).
const (
	AuthSecretBasic = "client_secret_basic"
	AuthSecretPost  = "client_secret_post"
)

// Config says where a Client authenticates and as whom.
type Config struct {
	// DatacenterURL is the base URL of the data center, such as
	// https://eu8-cloud.acronis.com; the IdP is at {DatacenterURL}/bc.
	DatacenterURL string
	ClientID      string
	ClientSecret  string
	// AuthMethod is how the credentials reach the token endpoint: the
	// client's token_endpoint_auth_method. Empty means client_secret_basic.
	AuthMethod string
	// HTTPClient sends the token requests, and its Transport, Timeout, Jar
	// and CheckRedirect are reused by HTTPClient(). Nil means a client with
	// a 30-second timeout over http.DefaultTransport.
	HTTPClient *http.Client
	// EarlyExpiry is how long before expiry a cached token is replaced.
	// Zero means DefaultEarlyExpiry. It never exceeds half a token's
	// lifetime, so short-lived tokens are still reused.
	EarlyExpiry time.Duration
	// Now is the clock; nil means time.Now. Tests move it to expire tokens.
	Now func() time.Time
}

// Client holds API-client credentials and a cached access token. It is
// safe for concurrent use.
type Client struct {
	base     string // the data center URL without a trailing slash
	origin   *url.URL
	tokenURL string
	id       string
	secret   string
	method   string
	hc       *http.Client
	api      *http.Client
	early    time.Duration
	now      func() time.Time

	mu        sync.Mutex
	tok       *api.TokenResponse // nil when nothing is cached
	refreshAt time.Time          // when tok stops being handed out
	flight    *flight            // the token request in progress, if any
}

// flight is one token request whose result every waiting caller shares.
// done is closed once tok or err is set.
type flight struct {
	done chan struct{}
	tok  *api.TokenResponse
	err  error
}

// New checks cfg and returns a Client. It sends nothing: the first token is
// requested when first needed.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.DatacenterURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("client: data center URL %q: %w", cfg.DatacenterURL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("client: data center URL %q must be absolute and use http or https", cfg.DatacenterURL)
	case u.Host == "":
		return nil, fmt.Errorf("client: data center URL %q has no host", cfg.DatacenterURL)
	case u.User != nil:
		// Credentials in the URL would be sent with every request and
		// printed in every error that names the URL.
		return nil, errors.New("client: data center URL must not contain a user name or password")
	case u.RawQuery != "" || u.ForceQuery:
		return nil, fmt.Errorf("client: data center URL %q must not have a query", cfg.DatacenterURL)
	case u.Fragment != "":
		return nil, fmt.Errorf("client: data center URL %q must not have a fragment", cfg.DatacenterURL)
	}
	if cfg.ClientID == "" {
		return nil, errors.New("client: missing client ID")
	}
	if cfg.ClientSecret == "" {
		return nil, errors.New("client: missing client secret")
	}
	method := cfg.AuthMethod
	switch method {
	case "":
		method = AuthSecretBasic
	case AuthSecretBasic, AuthSecretPost:
	default:
		return nil, fmt.Errorf("client: auth method %q is neither %s nor %s", cfg.AuthMethod, AuthSecretBasic, AuthSecretPost)
	}
	if cfg.EarlyExpiry < 0 {
		return nil, fmt.Errorf("client: negative early expiry %s", cfg.EarlyExpiry)
	}
	early := cfg.EarlyExpiry
	if early == 0 {
		early = DefaultEarlyExpiry
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}

	base := strings.TrimRight(u.String(), "/")
	origin := &url.URL{Scheme: u.Scheme, Host: u.Host}
	c := &Client{
		base:     base,
		origin:   origin,
		tokenURL: base + "/bc/idp/token",
		id:       cfg.ClientID,
		secret:   cfg.ClientSecret,
		method:   method,
		hc:       hc,
		early:    early,
		now:      now,
	}
	c.api = &http.Client{
		Transport:     c.Transport(),
		Timeout:       hc.Timeout,
		Jar:           hc.Jar,
		CheckRedirect: hc.CheckRedirect,
	}
	return c, nil
}

// DatacenterURL is the data center's base URL, without a trailing slash.
func (c *Client) DatacenterURL() string { return c.base }

// Token returns a valid access token, from the cache while the cached one
// is outside its early-expiry window. Concurrent callers that find no
// usable token share one token request; a caller whose ctx ends stops
// waiting, but the request goes on for the others and fills the cache.
// The returned value is the caller's own copy.
func (c *Client) Token(ctx context.Context) (*api.TokenResponse, error) {
	c.mu.Lock()
	if c.tok != nil && c.now().Before(c.refreshAt) {
		t := *c.tok
		c.mu.Unlock()
		return &t, nil
	}
	f := c.flight
	if f == nil {
		if ctx.Err() != nil {
			// Nobody would wait for a fetch started now.
			c.mu.Unlock()
			return nil, context.Cause(ctx)
		}
		f = &flight{done: make(chan struct{})}
		c.flight = f
		// The fetch must outlive whichever caller happened to start it, but
		// it keeps that caller's context values (trace ids and the like).
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tokenTimeout)
		go func() {
			defer cancel()
			c.runFlight(fctx, f)
		}()
	}
	c.mu.Unlock()

	select {
	case <-f.done:
		if f.err != nil {
			return nil, f.err
		}
		t := *f.tok
		return &t, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func (c *Client) runFlight(ctx context.Context, f *flight) {
	start := c.now()
	tok, err := c.FetchToken(ctx)

	c.mu.Lock()
	if err == nil {
		if at, ok := c.refreshTime(tok, start); ok {
			c.tok, c.refreshAt = tok, at
		} else {
			c.tok = nil
		}
	}
	c.flight = nil
	f.tok, f.err = tok, err
	c.mu.Unlock()
	close(f.done)
}

// refreshTime is when a token fetched at start must be replaced, and
// whether it may be cached at all.
//
// The lifetime comes from expires_in, counted from when the request was
// sent, which is immune to skew between this machine's clock and the data
// center's. expires_on, absolute in the data center's clock, is the
// fallback when expires_in is missing.
func (c *Client) refreshTime(t *api.TokenResponse, start time.Time) (time.Time, bool) {
	var expiry time.Time
	switch {
	case t.ExpiresIn > 0:
		expiry = start.Add(time.Duration(t.ExpiresIn) * time.Second)
	case t.ExpiresOn > 0:
		expiry = time.Unix(t.ExpiresOn, 0)
	default:
		return time.Time{}, false
	}
	life := expiry.Sub(start)
	if life <= 0 {
		return time.Time{}, false
	}
	early := min(c.early, life/2)
	return expiry.Add(-early), true
}

// invalidate drops the cached token if it is still the one given, which a
// resource server has just rejected. Comparing first means that when many
// requests fail with the same token at once, the cache is dropped once and
// a replacement fetched by one of them is not thrown away by the rest.
func (c *Client) invalidate(accessToken string) {
	c.mu.Lock()
	if c.tok != nil && c.tok.AccessToken == accessToken {
		c.tok = nil
	}
	c.mu.Unlock()
}

// FetchToken requests a new access token, bypassing and leaving untouched
// the cache that Token uses.
func (c *Client) FetchToken(ctx context.Context) (*api.TokenResponse, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if c.method == AuthSecretPost {
		form.Set("client_id", c.id)
		form.Set("client_secret", c.secret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("client: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.method == AuthSecretBasic {
		req.Header.Set("Authorization", "Basic "+basicCredentials(c.id, c.secret))
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.redactErr(err)
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, c.responseError(resp)
	}
	var tok api.TokenResponse
	if err := decodeBody(resp, &tok); err != nil {
		return nil, fmt.Errorf("client: token response: %w", err)
	}
	if tok.AccessToken == "" {
		return nil, errors.New("client: token response has no access_token")
	}
	if tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "bearer") {
		return nil, fmt.Errorf("client: token response has token_type %q, want bearer", tok.TokenType)
	}
	return &tok, nil
}

// basicCredentials encodes id and secret for HTTP Basic authentication as
// RFC 6749 2.3.1 requires: each is form-urlencoded first, so that a colon
// in the id or a non-ASCII character survives the trip.
func basicCredentials(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
}

// decodeBody reads at most maxBody bytes of JSON into v.
func decodeBody(resp *http.Response, v any) error {
	lr := &io.LimitedReader{R: resp.Body, N: maxBody}
	if err := json.NewDecoder(lr).Decode(v); err != nil {
		if lr.N == 0 {
			return fmt.Errorf("response body exceeds %d bytes", maxBody)
		}
		return fmt.Errorf("malformed JSON response: %w", err)
	}
	return nil
}
