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
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/flight"
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

// issuer is one trusted data center: its discovery, its key set (the
// KeySource of its verifier) and its introspection endpoint.
type issuer struct {
	g            *Guard
	cfg          Issuer
	verifier     *token.Verifier
	discoveryURI string
	authz        string // the Basic credentials for introspection: never log it

	// One discovery and one JWKS fetch at a time, each shared by every
	// request that waits for it.
	discoveries flight.Group[*metadata]
	refreshes   flight.Group[struct{}]

	mu        sync.Mutex
	meta      *metadata // nil until discovery succeeds, then kept
	metaRetry retry

	keys      map[string]token.PublicKey
	keysAt    time.Time // when keys were fetched; zero before the first success
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
