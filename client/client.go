// Package client is the Go SDK for apps that authenticate to a Gatehouse
// data center with API-client credentials (the platform's "CyberApp"
// credentials) and then call that data center's API.
//
// It is built in layers, as golang.org/x/oauth2 is:
//
//   - Fetcher requests a new access token on every call, with the
//     client_credentials grant (like x/oauth2's clientcredentials).
//   - Cache keeps the token a TokenSource gave it until shortly before it
//     expires, and shares one request among concurrent callers (like
//     oauth2.ReuseTokenSource).
//   - Transport adds the token to the requests sent to the data center, and
//     sends again those refused with invalid_token or answered 429 or 503.
//   - Accounts is the account API (API clients, signing keys, audit log)
//     over an authenticated *http.Client.
//
// Client composes the four from one Config, which is what most apps want.
// Cache.OAuth2TokenSource and Client.OAuth2TokenSource expose the token
// cache to code written for golang.org/x/oauth2.
package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// DefaultEarlyExpiry is how long before its expiry a cached token is
// replaced when Config.EarlyExpiry is zero. It covers clock skew and the
// time a request spends in flight, so a token is never sent just as it
// expires.
const DefaultEarlyExpiry = 5 * time.Minute

// tokenTimeout bounds a shared token request, its retries included. The
// shared request runs detached from its callers' contexts, so without a
// bound of its own a hung server would hold every later caller's flight
// open forever. The oauth2 adapter, whose callers cannot pass a context,
// waits at most this long too.
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

// settings is a Config checked, with its defaults filled in.
type settings struct {
	base   string // the data center URL without a trailing slash
	id     string
	secret string
	method string
	hc     *http.Client
	early  time.Duration
	now    func() time.Time
	retry  *Retry
}

func (cfg Config) settings() (*settings, error) {
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
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &settings{
		base:   strings.TrimRight(u.String(), "/"),
		id:     cfg.ClientID,
		secret: cfg.ClientSecret,
		method: method,
		hc:     hc,
		early:  cfg.EarlyExpiry,
		now:    now,
		retry:  &Retry{Max: maxRetries, MaxWait: cfg.MaxRetryWait, Now: now},
	}, nil
}

// Client is the SDK's layers put together from one Config: a Fetcher, a
// Cache over it, a Transport over the cache and Accounts over the
// transport. It is safe for concurrent use.
type Client struct {
	base      string
	retry     *Retry // shared by the fetcher and the transport
	fetcher   *Fetcher
	cache     *Cache
	transport *Transport
	hc        *http.Client
	accounts  *Accounts
}

// New checks cfg and returns a Client. It sends nothing: the first token is
// requested when first needed.
func New(cfg Config) (*Client, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	f := newFetcher(s)
	cache := NewCache(f, s.early, s.now)
	base := s.hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	t := &Transport{Source: cache, Datacenter: s.base, Base: base, Retry: s.retry}
	hc := &http.Client{
		Transport:     t,
		Timeout:       s.hc.Timeout,
		Jar:           s.hc.Jar,
		CheckRedirect: s.hc.CheckRedirect,
	}
	a := &Accounts{base: s.base, hc: hc, src: cache}
	// The account API's error messages are cleaned of the secret and of the
	// token in use, besides anything that looks like a JWT.
	a.creds = func() []string { return append(f.creds(), cache.current()) }
	return &Client{
		base:      s.base,
		retry:     s.retry,
		fetcher:   f,
		cache:     cache,
		transport: t,
		hc:        hc,
		accounts:  a,
	}, nil
}

// DatacenterURL is the data center's base URL, without a trailing slash.
func (c *Client) DatacenterURL() string { return c.base }

// Token returns a valid access token from the Client's Cache; see
// Cache.Token. It makes a Client a TokenSource.
func (c *Client) Token(ctx context.Context) (*Token, error) { return c.cache.Token(ctx) }

// FetchToken requests a new access token, bypassing and leaving untouched
// the cache that Token uses; see Fetcher.Token.
func (c *Client) FetchToken(ctx context.Context) (*Token, error) { return c.fetcher.Token(ctx) }

// Transport returns the Client's Transport: the token of its Cache goes to
// the data center only, with the Client's retries.
func (c *Client) Transport() http.RoundTripper { return c.transport }

// HTTPClient returns an *http.Client that authenticates with Transport and
// otherwise behaves like Config.HTTPClient (timeout, cookies, redirects).
// Its Timeout covers the retries and their waits as well.
func (c *Client) HTTPClient() *http.Client {
	hc := *c.hc
	return &hc
}

// Accounts returns the account API, authenticated as the Client.
func (c *Client) Accounts() *Accounts { return c.accounts }

// OAuth2TokenSource returns the Client's Cache as an oauth2.TokenSource;
// see Cache.OAuth2TokenSource.
func (c *Client) OAuth2TokenSource() oauth2.TokenSource { return c.cache.OAuth2TokenSource() }
