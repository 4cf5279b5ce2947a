package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/token"
)

// ErrInvalidClient is the one answer to every failed client authentication
// at the token endpoint, whatever the cause (unknown client, wrong secret,
// disabled, deleted, wrong method), so that the answer tells an attacker
// nothing about which client ids exist.
var ErrInvalidClient = gatehouse.Errorf(gatehouse.ErrUnauthenticated, "invalid_client", "Client authentication failed.")

// ClientCredentials are what a caller presented at an IdP endpoint, and
// from where.
type ClientCredentials struct {
	ClientID string
	Secret   string
	Method   gatehouse.AuthMethod
	RemoteIP string
}

// limitKeys are the failure counters a client authentication is checked
// against: the (client id, address) pair, so that guessing one client's
// secret is slow, and the address alone, so that guessing across many
// client ids is too. Neither involves another address, so the right secret
// sent from elsewhere is never refused.
func limitKeys(cred ClientCredentials) []string {
	return []string{"cid:" + cred.ClientID + "|ip:" + cred.RemoteIP, "ip:" + cred.RemoteIP}
}

// AuthenticateClient checks client credentials and returns the client.
// After too many failures from the caller's address it refuses with a
// *gatehouse.RateLimitedError without checking anything.
func (s *Service) AuthenticateClient(ctx context.Context, cred ClientCredentials) (gatehouse.Client, error) {
	c, _, err := s.authenticateClient(ctx, cred)
	return c, err
}

// authenticateClient is AuthenticateClient, and also returns the state of
// the client's tenant, which IssueToken needs to mint the token.
func (s *Service) authenticateClient(ctx context.Context, cred ClientCredentials) (gatehouse.Client, tenantState, error) {
	keys := limitKeys(cred)
	wait, err := s.limiter.Allowed(ctx, keys...)
	if err != nil {
		return gatehouse.Client{}, tenantState{}, unavailable(err)
	}
	if wait > 0 {
		return gatehouse.Client{}, tenantState{}, &gatehouse.RateLimitedError{RetryAfter: wait}
	}
	c, ts, err := s.checkClientCredentials(ctx, cred)
	if errors.Is(err, ErrInvalidClient) {
		if ferr := s.limiter.Fail(ctx, keys...); ferr != nil {
			s.log.Warn("counting a failed client authentication failed", "err", ferr)
		}
	}
	return c, ts, err
}

func (s *Service) checkClientCredentials(ctx context.Context, cred ClientCredentials) (gatehouse.Client, tenantState, error) {
	c, err := s.lookupClient(ctx, cred.ClientID)
	if errors.Is(err, gatehouse.ErrNotFound) {
		// Spend the same hashing work as for a known client, so timing does
		// not reveal which ids exist.
		s.secrets.Matches(cred.ClientID, cred.Secret, nil)
		return gatehouse.Client{}, tenantState{}, ErrInvalidClient
	}
	if err != nil {
		return gatehouse.Client{}, tenantState{}, err
	}
	ok := s.secrets.Matches(c.ID, cred.Secret, c.SecretHash)
	if !ok || c.Status != gatehouse.StatusEnabled || c.AuthMethod != cred.Method {
		return gatehouse.Client{}, tenantState{}, ErrInvalidClient
	}
	// Only now, for a caller who holds the secret: the tenant tree. A
	// client of a disabled tenant (or one below it) fails exactly like a
	// disabled client.
	ts, err := s.clientTenant(ctx, c)
	if err != nil {
		return gatehouse.Client{}, tenantState{}, err
	}
	if !ts.enabled {
		return gatehouse.Client{}, tenantState{}, ErrInvalidClient
	}
	return c, ts, nil
}

// ErrCallerGone means the request ended (the client disconnected or timed
// out) while it waited for a CPU to sign on: nobody is left to answer, and
// nothing is wrong with the data center.
var ErrCallerGone = errors.New("the caller went away before its token was signed")

// NoActiveSigningKeyError refuses a token request because no key may sign
// yet: by this data center's clock every key starts signing later, which
// happens when the clock is stepped back before the activation of the only
// key. Not the caller's fault, nor lasting: answered 503, temporarily
// unavailable, with Retry-After.
type NoActiveSigningKeyError struct {
	// RetryAfter is the time until a key starts signing, at most
	// maxSigningKeyWait.
	RetryAfter time.Duration
}

func (e *NoActiveSigningKeyError) Error() string {
	return fmt.Sprintf("no signing key is active yet; retry after %s", e.RetryAfter)
}

func (e *NoActiveSigningKeyError) Unwrap() error { return gatehouse.ErrUnavailable }

// maxSigningKeyWait caps the Retry-After of a token request that found no
// active key: the clock that is behind may be corrected at any moment, and
// a client told to wait a day would not notice.
const maxSigningKeyWait = time.Minute

// noSigningKey is the refusal of a token request at now, when no key
// signs: it logs the cause the first time, until a key signs again.
func (s *Service) noSigningKey(now time.Time) error {
	kid, activeAt, ok := s.keys.NextSigningKey(now)
	wait := maxSigningKeyWait
	if ok {
		wait = min(activeAt.Sub(now), wait)
	}
	if s.noSigningKeyLogged.CompareAndSwap(false, true) {
		if ok {
			s.log.Error("no signing key is active yet: the clock reads a time before the next key's activation "+
				"(was it stepped back?); token requests are answered 503 until then",
				"kid", kid, "active_at", activeAt.UTC(), "now", now.UTC())
		} else {
			// Not a state rotation ever leaves (the newest key never
			// retires); a store edited by hand could.
			s.log.Error("no signing key is published, so none can become active; token requests are answered 503",
				"now", now.UTC())
		}
	}
	return &NoActiveSigningKeyError{RetryAfter: wait}
}

// IssueToken authenticates the client and mints its tokens. The token path
// writes nothing: the access is noted in memory and stored lazily.
func (s *Service) IssueToken(ctx context.Context, cred ClientCredentials) (token.Issued, error) {
	c, ts, err := s.authenticateClient(ctx, cred)
	if err != nil {
		return token.Issued{}, err
	}
	now := s.now()
	// The token carries the effective generation (see tenantState), not
	// the client's alone, so that disabling any of its tenants revokes it.
	minted := c
	minted.Generation = ts.generationOf(c)
	issued, err := s.issuer.Issue(ctx, minted, now)
	switch {
	case errors.Is(err, token.ErrNoSigningKey):
		return token.Issued{}, s.noSigningKey(now)
	case err != nil && ctx.Err() != nil:
		return token.Issued{}, fmt.Errorf("%w: %w", ErrCallerGone, err)
	case err != nil:
		return token.Issued{}, err
	}
	if s.noSigningKeyLogged.Load() && s.noSigningKeyLogged.CompareAndSwap(true, false) {
		s.log.Info("a signing key is active again; issuing tokens", "kid", s.keys.SigningKeyIDAt(now))
	}
	s.access.Note(c.ID, cred.RemoteIP, now)
	s.noteIssue(c.ID, now)
	return issued, nil
}

// Principal is an authenticated caller of the account API.
type Principal struct {
	Client gatehouse.Client
	Claims *token.AccessClaims // nil when the caller signed in otherwise (the console)
	// RemoteIP is where the caller's request came from, for the audit log.
	RemoteIP string
	// Generation is the effective generation of the caller's credentials:
	// its client's plus its tenants' (see tenantState). A console session
	// records it at sign-in, as a token does when it is minted.
	Generation int64
}

// IsTenantAdmin reports whether the caller administers its tenant.
func (p *Principal) IsTenantAdmin() bool { return p.Client.Role == gatehouse.RoleTenantAdmin }

// Authenticate runs every bearer check, in the platform's order: the token
// checks (malformed, issuer, signature, audience, expiry), then the client's
// state now (deleted, disabled, regenerated or disabled since the token was
// minted).
//
// "Disabled" covers the tenant tree: a client is disabled while it, its
// tenant or any ancestor of its tenant is disabled. And "since the token
// was minted" does too: the token's gen claim is the client's generation
// plus the generations of its tenant and every ancestor, and disabling a
// tenant increases its generation, so a token minted before any of them
// was disabled stays revoked once it is enabled again. Generations, rather
// than comparing iat with the time of the disabling, because iat has whole
// seconds: a token minted in the second of the disabling would be
// ambiguous, while a generation is exact. Generations only grow and
// tenants never move, so the sum cannot come back to an old value.
func (s *Service) Authenticate(ctx context.Context, raw string) (*Principal, error) {
	if raw == "" {
		return nil, gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeBearerTokenMissing, "Authorization bearer token is missing.")
	}
	claims, err := s.verify(ctx, raw)
	if err != nil {
		return nil, s.namePeerIssuer(raw, err)
	}
	c, err := s.lookupClient(ctx, claims.ClientID)
	if errors.Is(err, gatehouse.ErrNotFound) {
		return nil, gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeClientNotFound, "The API client of this token no longer exists.")
	}
	if err != nil {
		return nil, err
	}
	if c.TenantID != claims.OwnerTUID {
		return nil, gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeTokenInvalid, "The token does not match its API client.")
	}
	if c.Status != gatehouse.StatusEnabled {
		return nil, gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeClientDisabled, "The API client of this token is disabled.")
	}
	ts, err := s.clientTenant(ctx, c)
	if err != nil {
		return nil, err
	}
	if !ts.enabled {
		return nil, gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeClientDisabled, "The API client of this token is disabled: its tenant, or a tenant above it, is disabled.")
	}
	gen := ts.generationOf(c)
	if claims.Generation != gen {
		return nil, gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeTokenRevoked, "The token has been revoked: the client's secret was regenerated, or the client or one of its tenants was disabled, after it was issued.")
	}
	if s.revoked.Has(claims.ID) {
		return nil, gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeTokenRevoked, "The token has been revoked.")
	}
	return &Principal{Client: c, Claims: claims, Generation: gen}, nil
}
