// Package client is the Go SDK for apps that authenticate to a Gatehouse
// data center with API-client credentials (the platform's "CyberApp"
// credentials) and then call that data center's API.
//
// A Client obtains access tokens with the client_credentials grant, keeps
// one until shortly before it expires, and shares a single token request
// among concurrent callers. HTTPClient returns an *http.Client that adds the
// bearer token to every request sent to the data center, and the account
// API helpers (CreateClient, ListClients, ...) are built on it. Requests
// answered 429 or 503 are sent again after the wait the server asks for.
// TokenSource exposes the same token cache to golang.org/x/oauth2.
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

// tokenTimeout bounds a shared token request, its retries included. The
// shared request runs detached from its callers' contexts, so without a
// bound of its own a hung server would hold every later caller's flight
// open forever. TokenSource, whose callers cannot pass a context, waits at
// most this long too.
const tokenTimeout = 30 * time.Second

// DefaultMaxRetries is how many times a request answered 429 or 503 is
// sent again when Config.MaxRetries is zero.
const DefaultMaxRetries = 3

// DefaultMaxRetryWait caps each wait before a retry when
// Config.MaxRetryWait is zero.
const DefaultMaxRetryWait = 30 * time.Second

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
	// Token lifetimes and Retry-After dates are read against it.
	Now func() time.Time
	// MaxRetries is how many times a request answered 429 Too Many
	// Requests or 503 Service Unavailable is sent again, for token requests
	// and for requests through Transport alike. Zero means
	// DefaultMaxRetries; a negative value turns retries off. A request
	// whose body cannot be replayed (no GetBody) is never retried.
	MaxRetries int
	// MaxRetryWait caps each wait before a retry. When the server's
	// Retry-After asks for longer, the SDK does not retry sooner than asked
	// but hands the answer back to the caller. Zero means
	// DefaultMaxRetryWait.
	MaxRetryWait time.Duration
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

	maxRetries int
	maxWait    time.Duration
	// sleep waits between retries; tests replace it so as not to sleep.
	sleep func(ctx context.Context, d time.Duration) error

	mu     sync.Mutex
	cur    *cached // the token handed out until cur.refreshAt; nil if none
	flight *flight // the token request in progress, if any
}

// cached is a token together with the times that govern its reuse, all on
// this machine's clock (Config.Now).
type cached struct {
	tok       api.TokenResponse
	sent      time.Time // when the request that obtained it was sent
	refreshAt time.Time // when it stops being handed out; <= sent if never
}

// flight is one token request whose result every waiting caller shares.
// done is closed once val or err is set.
type flight struct {
	done chan struct{}
	val  *cached
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
	if cfg.MaxRetryWait < 0 {
		return nil, fmt.Errorf("client: negative maximum retry wait %s", cfg.MaxRetryWait)
	}
	maxRetries := cfg.MaxRetries
	switch {
	case maxRetries == 0:
		maxRetries = DefaultMaxRetries
	case maxRetries < 0:
		maxRetries = 0
	}
	maxWait := cfg.MaxRetryWait
	if maxWait == 0 {
		maxWait = DefaultMaxRetryWait
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

		maxRetries: maxRetries,
		maxWait:    maxWait,
		sleep:      sleep,
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
	e, err := c.token(ctx)
	if err != nil {
		return nil, err
	}
	t := e.tok
	return &t, nil
}

// token is Token returning the cache entry itself, which callers must not
// modify: it is shared.
func (c *Client) token(ctx context.Context) (*cached, error) {
	c.mu.Lock()
	if c.cur != nil && c.now().Before(c.cur.refreshAt) {
		e := c.cur
		c.mu.Unlock()
		return e, nil
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
		// Neither the context nor anything derived from it outlives the
		// fetch: the Client keeps no caller's context.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tokenTimeout)
		go func() {
			defer cancel()
			c.runFlight(fctx, f)
		}()
	}
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func (c *Client) runFlight(ctx context.Context, f *flight) {
	tok, sent, err := c.fetch(ctx)
	var e *cached
	if err == nil {
		e = c.lifetime(tok, sent)
	}

	c.mu.Lock()
	if err == nil {
		if e.refreshAt.After(e.sent) {
			c.cur = e
		} else {
			c.cur = nil
		}
	}
	c.flight = nil
	f.val, f.err = e, err
	c.mu.Unlock()
	close(f.done)
}

// lifetime works out when a token obtained by a request sent at sent
// expires and when it must be replaced.
//
// The expiry is the earlier of two readings. sent+expires_in is immune to
// skew between this machine's clock and the data center's, and is early
// rather than late, since the request was sent before the server started
// counting; if this clock runs behind, it is the earlier one. expires_on
// is the data center's own word, absolute in its clock; if this clock runs
// ahead, it is the earlier one and the token is replaced early rather than
// used after it expired. Either reading alone is used when the other is
// missing.
//
// One exception: an expires_on at or before the send time cannot be
// right about a token just issued; it means this clock runs ahead of the
// data center's by more than the token's lifetime. Believing it would make
// every request fetch a new token, so expires_in alone counts then.
//
// The token is replaced EarlyExpiry before its expiry, but never earlier
// than half-way through its lifetime, so short-lived tokens are still
// reused. A token without any expiry, or already expired, is not reused:
// its refreshAt is its send time.
func (c *Client) lifetime(t *api.TokenResponse, sent time.Time) *cached {
	e := &cached{tok: *t, sent: sent, refreshAt: sent}
	var expiry time.Time // zero while the server has not said
	if t.ExpiresIn > 0 {
		expiry = sent.Add(time.Duration(t.ExpiresIn) * time.Second)
	}
	if t.ExpiresOn > 0 {
		on := time.Unix(t.ExpiresOn, 0)
		switch {
		case expiry.IsZero():
			expiry = on
		case on.After(sent) && on.Before(expiry):
			expiry = on
		}
	}
	life := expiry.Sub(sent)
	if expiry.IsZero() || life <= 0 {
		return e
	}
	e.refreshAt = expiry.Add(-min(c.early, life/2))
	return e
}

// invalidate drops the cached token if it is still the one given, which a
// resource server has just rejected. Comparing first means that when many
// requests fail with the same token at once, the cache is dropped once and
// a replacement fetched by one of them is not thrown away by the rest.
func (c *Client) invalidate(accessToken string) {
	c.mu.Lock()
	if c.cur != nil && c.cur.tok.AccessToken == accessToken {
		c.cur = nil
	}
	c.mu.Unlock()
}

// FetchToken requests a new access token, bypassing and leaving untouched
// the cache that Token uses. Answers 429 and 503 are retried as
// Config.MaxRetries and Config.MaxRetryWait say, within ctx.
func (c *Client) FetchToken(ctx context.Context) (*api.TokenResponse, error) {
	tok, _, err := c.fetch(ctx)
	return tok, err
}

// fetch is FetchToken that also reports when the request that succeeded
// was sent, the moment its expires_in counts from.
func (c *Client) fetch(ctx context.Context) (*api.TokenResponse, time.Time, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if c.method == AuthSecretPost {
		form.Set("client_id", c.id)
		form.Set("client_secret", c.secret)
	}
	body := form.Encode()
	for retries := 0; ; retries++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(body))
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("client: token request: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if c.method == AuthSecretBasic {
			req.Header.Set("Authorization", "Basic "+basicCredentials(c.id, c.secret))
		}

		sent := c.now()
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, sent, c.redactErr(err)
		}
		if resp.StatusCode == http.StatusOK {
			tok, err := readToken(resp)
			return tok, sent, err
		}
		if wait, ok := c.retryDelay(ctx, resp, retries); ok {
			status := resp.StatusCode
			drain(resp.Body)
			if err := c.sleep(ctx, wait); err != nil {
				return nil, sent, fmt.Errorf("client: token request answered %d; stopped waiting to retry: %w", status, err)
			}
			continue
		}
		err = c.responseError(resp)
		drain(resp.Body)
		return nil, sent, err
	}
}

// readToken decodes and checks a 200 answer of the token endpoint, and
// closes its body.
func readToken(resp *http.Response) (*api.TokenResponse, error) {
	defer drain(resp.Body)
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
