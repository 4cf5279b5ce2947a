package guard

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

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/token"
)

// Backoff after a failed fetch: the pause doubles from retryMin to
// retryMax, so an outage costs the data center a trickle of requests
// instead of one per incoming call, and a blip costs well under a second.
const (
	retryMin = 500 * time.Millisecond
	retryMax = 30 * time.Second
)

// retry remembers the failures of one endpoint. The zero value is an
// endpoint in good health.
type retry struct {
	failures int
	at       time.Time // no attempt before this
	err      error     // the last failure
}

func (r *retry) failed(now time.Time, err error) time.Duration {
	r.failures++
	d := retryMax
	if r.failures <= 16 {
		d = min(retryMin<<(r.failures-1), retryMax)
	}
	r.at, r.err = now.Add(d), err
	return d
}

func (r *retry) succeeded() { *r = retry{} }

// blocked reports the last failure and how long until the next attempt,
// while an attempt must wait.
func (r *retry) blocked(now time.Time) (time.Duration, error) {
	if r.err == nil || !now.Before(r.at) {
		return 0, nil
	}
	return r.at.Sub(now), r.err
}

// metadata is what the guard needs from a data center's discovery
// document.
type metadata struct {
	jwksURI       string
	introspectURI string
}

// issuer is one trusted data center: its discovery, its key set (the
// KeySource of its verifier) and its introspection endpoint.
type issuer struct {
	g            *Guard
	cfg          Issuer
	verifier     *token.Verifier
	discoveryURI string
	authz        string // the Basic credentials for introspection: never log it

	mu        sync.Mutex
	meta      *metadata // nil until discovery succeeds, then kept
	metaCall  *call[*metadata]
	metaRetry retry

	keys      map[string]token.PublicKey
	keysAt    time.Time // when keys were fetched; zero before the first success
	keysCall  *call[struct{}]
	keysRetry retry

	introRetry retry
}

func newIssuer(g *Guard, cfg Issuer) *issuer {
	i := &issuer{
		g:            g,
		cfg:          cfg,
		discoveryURI: cfg.URL + "/.well-known/openid-configuration",
		// RFC 6749 2.3.1: id and secret are form-urlencoded before the
		// Basic encoding.
		authz: "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(cfg.ClientID)+":"+url.QueryEscape(cfg.ClientSecret))),
	}
	i.verifier = &token.Verifier{Issuer: cfg.URL, Audience: cfg.Audience, Keys: i, Leeway: g.leeway}
	return i
}

// unavailable describes a failed fetch to the request that waited for it.
// A failure nested in another (discovery inside a JWKS fetch) keeps its
// cause and the longer wait.
func (i *issuer) unavailable(err error, wait time.Duration) *UnavailableError {
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return &UnavailableError{Issuer: ue.Issuer, RetryAfter: max(ue.RetryAfter, wait), Err: ue.Err}
	}
	return &UnavailableError{Issuer: i.cfg.URL, RetryAfter: wait, Err: err}
}

// metadata returns the discovery document, fetching it on first use.
// Success is kept for the life of the Guard; a failure only until the
// backoff allows the next attempt.
func (i *issuer) metadata(ctx context.Context) (*metadata, error) {
	i.mu.Lock()
	if m := i.meta; m != nil {
		i.mu.Unlock()
		return m, nil
	}
	c := i.metaCall
	if c == nil {
		if wait, err := i.metaRetry.blocked(i.g.now()); err != nil {
			i.mu.Unlock()
			return nil, i.unavailable(err, wait)
		}
		c = newCall[*metadata]()
		i.metaCall = c
		spawned := i.g.spawn(ctx, func(ctx context.Context) {
			m, err := i.discover(ctx)
			now := i.g.now()
			var failure error
			i.mu.Lock()
			if err == nil {
				i.meta = m
				i.metaRetry.succeeded()
			} else {
				failure = i.unavailable(err, i.metaRetry.failed(now, err))
			}
			i.metaCall = nil
			i.mu.Unlock()
			if err != nil {
				i.g.log.Warn("gatehouse discovery failed", "issuer", i.cfg.URL, "err", err)
			} else {
				i.g.log.Info("gatehouse issuer discovered", "issuer", i.cfg.URL, "jwks_uri", m.jwksURI, "introspection_endpoint", m.introspectURI)
			}
			c.finish(m, failure)
		})
		if !spawned {
			i.metaCall = nil
			i.mu.Unlock()
			return nil, i.unavailable(ErrClosed, 0)
		}
	}
	i.mu.Unlock()
	return c.wait(ctx)
}

func (i *issuer) discover(ctx context.Context) (*metadata, error) {
	var doc struct {
		Issuer                string `json:"issuer"`
		JWKSURI               string `json:"jwks_uri"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
	}
	if err := i.getJSON(ctx, i.discoveryURI, &doc); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	// OpenID Connect Discovery 1.0 section 4.3: the document must be about
	// the issuer it was fetched for, or it could hand us another's keys.
	if doc.Issuer != i.cfg.URL {
		return nil, fmt.Errorf("discovery: the document is for issuer %s, not %s", token.QuoteUntrusted(doc.Issuer), i.cfg.URL)
	}
	jwks, err := i.endpoint("jwks_uri", doc.JWKSURI)
	if err != nil {
		return nil, err
	}
	intro, err := i.endpoint("introspection_endpoint", doc.IntrospectionEndpoint)
	if err != nil {
		return nil, err
	}
	return &metadata{jwksURI: jwks, introspectURI: intro}, nil
}

// endpoint checks a URL of the discovery document. An https issuer must
// not send the guard to plain http, where the keys could be replaced and
// the client secret read on the way.
func (i *issuer) endpoint(name, raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return "", fmt.Errorf("discovery: the document has no %s", name)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
		return "", fmt.Errorf("discovery: %s %s is not an absolute http or https URL", name, token.QuoteUntrusted(raw))
	case strings.HasPrefix(i.cfg.URL, "https:") && u.Scheme != "https":
		return "", fmt.Errorf("discovery: %s %s is not https like the issuer", name, token.QuoteUntrusted(raw))
	}
	return raw, nil
}

// VerificationKey implements token.KeySource over the data center's JWKS.
//
// A known kid is answered from the cached set while it is fresh. An unknown
// kid makes the set be fetched again, unless it was fetched less than the
// cooldown ago: then the kid is unknown, and a flood of made-up kids cannot
// turn into a flood of fetches. Concurrent callers share one fetch. When
// the data center cannot be reached, a kid of the last good set is still
// answered, and any other is an UnavailableError: nothing can be said
// about a key the guard could not look up.
func (i *issuer) VerificationKey(ctx context.Context, kid string) (token.PublicKey, error) {
	now := i.g.now()
	i.mu.Lock()
	key, known := i.keys[kid]
	fetched := !i.keysAt.IsZero()
	age := now.Sub(i.keysAt)
	if known && age < max(keysMaxAge, i.g.cooldown) {
		i.mu.Unlock()
		return key, nil
	}
	c := i.keysCall
	if c == nil {
		if wait, err := i.keysRetry.blocked(now); err != nil {
			i.mu.Unlock()
			if known {
				return key, nil
			}
			return token.PublicKey{}, i.unavailable(err, wait)
		}
		if !known && fetched && age < i.g.cooldown {
			i.mu.Unlock()
			return token.PublicKey{}, token.ErrUnknownKey
		}
		c = newCall[struct{}]()
		i.keysCall = c
		if !i.g.spawn(ctx, func(ctx context.Context) { i.refreshKeys(ctx, c) }) {
			i.keysCall = nil
			i.mu.Unlock()
			return token.PublicKey{}, i.unavailable(ErrClosed, 0)
		}
	}
	i.mu.Unlock()

	_, err := c.wait(ctx)
	i.mu.Lock()
	key, known = i.keys[kid]
	i.mu.Unlock()
	switch {
	case known:
		return key, nil
	case err != nil:
		return token.PublicKey{}, err
	default:
		return token.PublicKey{}, token.ErrUnknownKey
	}
}

func (i *issuer) refreshKeys(ctx context.Context, c *call[struct{}]) {
	keys, err := i.fetchKeys(ctx)
	now := i.g.now()
	var failure error
	i.mu.Lock()
	if err == nil {
		i.keys, i.keysAt = keys, now
		i.keysRetry.succeeded()
	} else {
		failure = i.unavailable(err, i.keysRetry.failed(now, err))
	}
	i.keysCall = nil
	i.mu.Unlock()
	if err != nil {
		i.g.log.Warn("gatehouse JWKS fetch failed", "issuer", i.cfg.URL, "err", err)
	} else {
		i.g.log.Debug("gatehouse JWKS fetched", "issuer", i.cfg.URL, "keys", len(keys))
	}
	c.finish(struct{}{}, failure)
}

// fetchKeys reads the JWKS and keeps the keys a Gatehouse token can be
// signed with (token.KeyFromJWK: RSA of at least 2048 bits for RS256,
// P-256 for ES256, Ed25519 for EdDSA, each for signing, with its own
// algorithm or none named). Other keys are skipped rather than failing the
// set, so a data center can publish keys for other uses beside ours.
func (i *issuer) fetchKeys(ctx context.Context) (map[string]token.PublicKey, error) {
	m, err := i.metadata(ctx)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := i.getJSON(ctx, m.jwksURI, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	keys := make(map[string]token.PublicKey, len(set.Keys))
	skipped := 0
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			skipped++
			continue
		}
		pub, ok := token.KeyFromJWK(k)
		if !ok {
			skipped++
			continue
		}
		if _, dup := keys[k.KeyID]; dup {
			skipped++
			continue
		}
		keys[k.KeyID] = pub
	}
	if skipped > 0 {
		i.g.log.Debug("gatehouse JWKS: skipped keys that cannot sign access tokens", "issuer", i.cfg.URL, "skipped", skipped)
	}
	if len(keys) == 0 {
		// An empty set would refuse every token as signed by an unknown
		// key, blaming the tokens for the data center's fault.
		return nil, errors.New("JWKS: no key in the set can sign access tokens")
	}
	return keys, nil
}

// introspectionBlocked returns an UnavailableError while the introspection
// endpoint is backing off after a failure.
func (i *issuer) introspectionBlocked(now time.Time) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if wait, err := i.introRetry.blocked(now); err != nil {
		return i.unavailable(err, wait)
	}
	return nil
}

// introspected records the outcome of an introspection call and turns a
// failure into the UnavailableError its waiters get.
func (i *issuer) introspected(now time.Time, err error) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err == nil {
		i.introRetry.succeeded()
		return nil
	}
	i.g.log.Warn("gatehouse introspection failed", "issuer", i.cfg.URL, "err", err)
	return i.unavailable(err, i.introRetry.failed(now, err))
}

// introspect asks the data center whether a token it issued is still
// active (RFC 7662). The answer has no reason: a disabled, deleted or
// regenerated client and a revoked token all read {"active":false}.
func (i *issuer) introspect(ctx context.Context, raw string, claims *Claims) (bool, error) {
	m, err := i.metadata(ctx)
	if err != nil {
		return false, err
	}
	body := url.Values{"token": {raw}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.introspectURI, strings.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("introspection: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", i.authz)
	resp, err := i.g.introspectHC.Do(req)
	if err != nil {
		return false, fmt.Errorf("introspection: %w", err)
	}
	defer drain(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return false, fmt.Errorf("introspection: the data center refused the credentials of client %s (HTTP %d)", token.QuoteUntrusted(i.cfg.ClientID), resp.StatusCode)
	default:
		return false, fmt.Errorf("introspection: unexpected HTTP status %d", resp.StatusCode)
	}
	var ans struct {
		Active   *bool  `json:"active"`
		Issuer   string `json:"iss"`
		ClientID string `json:"client_id"`
	}
	if err := decodeBody(resp.Body, &ans); err != nil {
		return false, fmt.Errorf("introspection: %w", err)
	}
	switch {
	case ans.Active == nil:
		return false, errors.New("introspection: the answer has no active member")
	case !*ans.Active:
		return false, nil
	case (ans.Issuer != "" && ans.Issuer != i.cfg.URL) || (ans.ClientID != "" && ans.ClientID != claims.ClientID):
		// An answer about some other token cannot vouch for this one.
		return false, errors.New("introspection: the answer is about another token")
	}
	return true, nil
}

// getJSON fetches a JSON document of at most maxBody bytes.
func (i *issuer) getJSON(ctx context.Context, uri string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := i.g.hc.Do(req)
	if err != nil {
		return err
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: unexpected HTTP status %d", uri, resp.StatusCode)
	}
	return decodeBody(resp.Body, v)
}

func decodeBody(r io.Reader, v any) error {
	lr := &io.LimitedReader{R: r, N: maxBody}
	if err := json.NewDecoder(lr).Decode(v); err != nil {
		if lr.N == 0 {
			return fmt.Errorf("response body exceeds %d bytes", maxBody)
		}
		return fmt.Errorf("malformed JSON response: %w", err)
	}
	return nil
}

// drain reads what is left of a body, up to a bound, so the connection can
// be reused, and closes it.
func drain(body io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(body, maxBody))
	body.Close()
}
