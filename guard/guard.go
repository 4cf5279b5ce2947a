// Package guard is the SDK a resource server uses to accept Gatehouse
// access tokens: it checks a bearer token offline against the signing keys
// of the data centers it trusts, in the same order and with the same error
// codes as Gatehouse's own API, and then asks the issuing data center
// (RFC 7662 introspection, cached briefly) whether the token is still
// active, so that a disabled, deleted or regenerated client, or a revoked
// token, stops working within Config.StatusCacheTTL.
//
// Wrap a handler with Guard.Middleware; the handler finds the verified
// claims with ClaimsFrom. Use Guard.Verify to check a token outside HTTP.
//
// Nothing is fetched until the first token arrives: discovery, the JWKS and
// introspection are lazy, shared among concurrent requests, and retried with
// backoff after a failure. When a data center cannot be reached the guard
// fails closed with 503 serviceUnavailable and a Retry-After, never with a
// 401 that would blame the token.
package guard

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/flight"
	"github.com/gatehouse-dev/gatehouse/token"
)

// Defaults for the zero values of Config.
const (
	DefaultStatusCacheTTL      = 10 * time.Second
	DefaultJWKSRefreshCooldown = 30 * time.Second
	DefaultMaxCachedTokens     = 10000
)

const (
	// maxBody bounds every response the guard reads, so a broken or hostile
	// endpoint cannot exhaust the resource server's memory.
	maxBody = 1 << 20
	// fetchTimeout bounds a shared fetch. It runs detached from the request
	// that started it, so without a bound of its own a hung data center
	// would hold every later request's fetch open.
	fetchTimeout = 15 * time.Second
	// keysMaxAge is how long a fetched key set is used before it is fetched
	// again (the data center's JWKS max-age), so a key the data center
	// withdraws stops being trusted.
	keysMaxAge = 5 * time.Minute
)

// Issuer is one data center whose tokens the guard accepts.
type Issuer struct {
	// URL is the issuer exactly as tokens carry it in iss: the data
	// center's base URL followed by /bc, such as
	// https://eu8-cloud.acronis.com/bc, with no trailing slash. Discovery
	// is read from URL + "/.well-known/openid-configuration".
	URL string
	// Audience is the aud every accepted token must carry. Gatehouse's
	// access tokens carry the data center's host, port included
	// (eu8-cloud.acronis.com).
	Audience string
	// ClientID and ClientSecret are the credentials of an enabled API
	// client of this data center; the guard authenticates with them at the
	// introspection endpoint. Any client will do: introspection needs no
	// role.
	ClientID     string
	ClientSecret string
}

// Config configures a Guard. Only Issuers is required.
type Config struct {
	// Issuers are the data centers whose tokens are accepted; a token of
	// any other issuer is refused with tokenIssuerMismatch.
	Issuers []Issuer
	// Leeway is the clock skew allowed when checking exp, nbf and iat.
	// Zero means none, which refuses a fresh token as not yet valid when
	// this machine's clock is behind the data center's; Gatehouse's own
	// API allows 30 seconds.
	Leeway time.Duration
	// HTTPClient fetches discovery, the JWKS and introspection answers. Nil
	// means a client with a 10-second timeout. Introspection never follows
	// redirects, whatever its CheckRedirect says, so the client secret goes
	// only to the endpoint that discovery named.
	HTTPClient *http.Client
	// StatusCacheTTL is how long an introspection answer is reused for the
	// same token, and so the longest a token of a disabled client (or a
	// revoked token) can still be accepted. Zero means
	// DefaultStatusCacheTTL.
	StatusCacheTTL time.Duration
	// JWKSRefreshCooldown is the least time between two JWKS fetches
	// caused by tokens with an unknown kid, so a flood of made-up kids
	// costs the data center at most one fetch per cooldown. Zero means
	// DefaultJWKSRefreshCooldown.
	JWKSRefreshCooldown time.Duration
	// MaxCachedTokens bounds the tokens whose verification and status are
	// remembered; the least recently used are forgotten first. Zero means
	// DefaultMaxCachedTokens.
	MaxCachedTokens int
	// Now is the clock for every decision the guard makes: token expiry,
	// cache lifetimes, the JWKS cooldown and retry backoff. Nil means
	// time.Now.
	Now func() time.Time
	// Logger receives fetch failures and rejections. It never receives a
	// token or a secret. Nil discards.
	Logger *slog.Logger
}

// Guard checks Gatehouse access tokens. It is safe for concurrent use.
// Call Close when done with it.
type Guard struct {
	issuers      map[string]*issuer
	trusted      string // the configured issuers, for messages
	leeway       time.Duration
	statusTTL    time.Duration
	cooldown     time.Duration
	now          func() time.Time
	log          *slog.Logger
	hc           *http.Client // discovery and JWKS
	introspectHC *http.Client // hc that never follows redirects
	cache        *tokenCache
	// introspections shares one introspection call among the concurrent
	// checks of a token, keyed by its hash.
	introspections flight.Group[bool]

	life   sync.Mutex
	closed atomic.Bool     // set under life
	stop   context.Context // cancelled by Close; every fetch ends with it
	cancel context.CancelFunc
	wg     sync.WaitGroup // the fetches in flight
}

// New checks cfg and returns a Guard. It sends nothing: each data center
// is contacted when its first token arrives.
func New(cfg Config) (*Guard, error) {
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("guard: no issuers configured")
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("guard: negative leeway %s", cfg.Leeway)
	}
	if cfg.StatusCacheTTL < 0 {
		return nil, fmt.Errorf("guard: negative status cache TTL %s", cfg.StatusCacheTTL)
	}
	if cfg.JWKSRefreshCooldown < 0 {
		return nil, fmt.Errorf("guard: negative JWKS refresh cooldown %s", cfg.JWKSRefreshCooldown)
	}
	if cfg.MaxCachedTokens < 0 {
		return nil, fmt.Errorf("guard: negative MaxCachedTokens %d", cfg.MaxCachedTokens)
	}
	g := &Guard{
		issuers:   make(map[string]*issuer, len(cfg.Issuers)),
		leeway:    cfg.Leeway,
		statusTTL: cmp.Or(cfg.StatusCacheTTL, DefaultStatusCacheTTL),
		cooldown:  cmp.Or(cfg.JWKSRefreshCooldown, DefaultJWKSRefreshCooldown),
		now:       cfg.Now,
		log:       cfg.Logger,
		hc:        cfg.HTTPClient,
		cache:     newTokenCache(cmp.Or(cfg.MaxCachedTokens, DefaultMaxCachedTokens)),
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.hc == nil {
		g.hc = &http.Client{Timeout: 10 * time.Second}
	}
	ihc := *g.hc
	ihc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	g.introspectHC = &ihc

	urls := make([]string, 0, len(cfg.Issuers))
	for _, ic := range cfg.Issuers {
		if err := validIssuer(ic); err != nil {
			return nil, err
		}
		if _, dup := g.issuers[ic.URL]; dup {
			return nil, fmt.Errorf("guard: issuer %s is configured twice", ic.URL)
		}
		g.issuers[ic.URL] = newIssuer(g, ic)
		urls = append(urls, ic.URL)
	}
	g.trusted = strings.Join(urls, ", ")
	g.stop, g.cancel = context.WithCancel(context.Background())
	return g, nil
}

func validIssuer(ic Issuer) error {
	u, err := url.Parse(ic.URL)
	switch {
	case err != nil:
		return fmt.Errorf("guard: issuer URL %q: %w", ic.URL, err)
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("guard: issuer URL %q must be an absolute http or https URL", ic.URL)
	case u.User != nil:
		return errors.New("guard: issuer URL must not contain a user name or password")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("guard: issuer URL %q must have no query or fragment", ic.URL)
	case strings.HasSuffix(ic.URL, "/"):
		// Tokens carry the issuer without one, and iss is compared exactly.
		return fmt.Errorf("guard: issuer URL %q must not end with a slash", ic.URL)
	case ic.Audience == "":
		return fmt.Errorf("guard: issuer %s has no audience", ic.URL)
	case ic.ClientID == "" || ic.ClientSecret == "":
		return fmt.Errorf("guard: issuer %s needs a client ID and secret for introspection", ic.URL)
	}
	return nil
}

// Close stops the fetches in flight and waits for them to end. Checks
// after Close fail with an UnavailableError wrapping ErrClosed.
func (g *Guard) Close() error {
	g.life.Lock()
	g.closed.Store(true)
	g.life.Unlock()
	g.cancel()
	g.wg.Wait()
	return nil
}

// run runs fn as a shared fetch, in the calling goroutine (a flight's
// own), with a context that keeps ctx's values but not its cancellation:
// a shared fetch must outlive the request that happened to start it. The
// fetch is bounded by fetchTimeout, ended by Close, and waited for by
// Close. run reports false, without calling fn, after Close.
func (g *Guard) run(ctx context.Context, fn func(context.Context)) bool {
	g.life.Lock()
	if g.closed.Load() {
		g.life.Unlock()
		return false
	}
	// Added under life, which Close takes before it waits: every Add
	// happens before the Wait, or not at all.
	g.wg.Add(1)
	g.life.Unlock()
	defer g.wg.Done()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	stop := context.AfterFunc(g.stop, cancel)
	defer stop()
	fn(fctx)
	return true
}

// Verify checks a raw access token and returns its claims, which are the
// caller's own copy. A token that is refused comes back as an *Error (test
// with errors.As) whose Code is bearerTokenMissing, tokenMalformed,
// tokenIssuerMismatch, tokenInvalid, tokenExpired or tokenRevoked; the
// checks run in that order.
// Any other error (an *UnavailableError, or ctx's) means the token could not
// be checked, and says nothing about it.
func (g *Guard) Verify(ctx context.Context, raw string) (*Claims, error) {
	claims, err := g.verify(ctx, raw)
	if err != nil {
		return nil, asRefusal(err)
	}
	return claims, nil
}

func (g *Guard) verify(ctx context.Context, raw string) (*Claims, error) {
	if g.closed.Load() {
		return nil, &UnavailableError{Issuer: g.trusted, Err: ErrClosed}
	}
	if raw == "" {
		return nil, refused(CodeBearerTokenMissing, "Authorization bearer token is missing.")
	}
	if len(raw) > token.MaxTokenLength {
		_, err := token.Parse(raw) // refuses it as too long, before hashing it
		return nil, err
	}
	now := g.now()
	// The cache is keyed by the token's hash, so no raw token sits in
	// memory longer than its request.
	key := sha256.Sum256([]byte(raw))
	iss, claims, ok := g.cache.verified(key, now)
	if !ok {
		u, err := token.Parse(raw)
		if err != nil {
			return nil, err
		}
		iss = g.issuers[u.Issuer]
		if iss == nil {
			return nil, refused(CodeTokenIssuerMismatch,
				"The token was issued by %s, which is not a trusted issuer (trusted: %s).", token.QuoteUntrusted(u.Issuer), g.trusted)
		}
		verified, err := iss.verifier.VerifyParsed(ctx, u, now)
		if err != nil {
			return nil, err
		}
		claims = claimsOf(verified)
		from, until := validity(claims, g.leeway)
		g.cache.add(key, iss, claims, from, until)
	}
	active, err := g.active(ctx, key, raw, iss, claims)
	if err != nil {
		return nil, err
	}
	if !active {
		return nil, refused(CodeTokenRevoked,
			"The token is no longer active: it was revoked, or its API client was disabled, deleted or given a new secret.")
	}
	return claims.clone(), nil
}

// validity is the span of time in which token.Verifier's time checks pass
// for claims, so that a cached verification is used only where a fresh one
// would have passed too. Outside it the token is verified afresh, which
// gives the canonical error (tokenExpired, not yet valid).
func validity(c *Claims, leeway time.Duration) (from, until time.Time) {
	for _, d := range []time.Time{c.NotBefore, c.IssuedAt} {
		if d.After(from) {
			from = d
		}
	}
	if !from.IsZero() {
		from = from.Add(-leeway)
	}
	return from, c.Expiry.Add(leeway) // the verifier refuses a token without exp
}

// active reports whether the token's data center still considers it
// active, from the cache while its answer is fresh. Concurrent checks of
// one token share one introspection call.
func (g *Guard) active(ctx context.Context, key [32]byte, raw string, iss *issuer, claims *Claims) (bool, error) {
	t := g.cache
	if active, ok := t.status(key, g.now()); ok {
		return active, nil
	}
	if err := iss.introspectionBlocked(g.now()); err != nil {
		return false, err
	}
	return g.introspections.Do(ctx, string(key[:]), func() (bool, error) {
		start := g.now()
		// A call that ended just before this one began has left its answer.
		if active, ok := t.status(key, start); ok {
			return active, nil
		}
		if err := iss.introspectionBlocked(start); err != nil {
			return false, err
		}
		var active bool
		var err error
		// Recording the outcome inside run means Close waits for it too:
		// nothing is logged after Close returns.
		ran := g.run(ctx, func(ctx context.Context) {
			active, err = iss.introspect(ctx, raw, claims)
			if err = iss.introspected(g.now(), err); err != nil {
				return
			}
			// The answer holds for StatusCacheTTL from when it was asked
			// for, and never past the token's own expiry.
			until := start.Add(g.statusTTL)
			if claims.Expiry.Before(until) {
				until = claims.Expiry
			}
			t.setStatus(key, active, until)
		})
		if !ran {
			return false, &UnavailableError{Issuer: iss.cfg.URL, Err: ErrClosed}
		}
		return active, err
	})
}
