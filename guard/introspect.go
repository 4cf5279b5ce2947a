package guard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/token"
)

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
