package service

import (
	"context"
	"errors"

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
	keys := limitKeys(cred)
	wait, err := s.limiter.Allowed(ctx, keys...)
	if err != nil {
		return gatehouse.Client{}, unavailable(err)
	}
	if wait > 0 {
		return gatehouse.Client{}, &gatehouse.RateLimitedError{RetryAfter: wait}
	}
	c, err := s.checkClientCredentials(ctx, cred)
	if errors.Is(err, ErrInvalidClient) {
		if ferr := s.limiter.Fail(ctx, keys...); ferr != nil {
			s.log.Warn("counting a failed client authentication failed", "err", ferr)
		}
	}
	return c, err
}

func (s *Service) checkClientCredentials(ctx context.Context, cred ClientCredentials) (gatehouse.Client, error) {
	c, err := s.lookupClient(ctx, cred.ClientID)
	if errors.Is(err, gatehouse.ErrNotFound) {
		// Spend the same hashing work as for a known client, so timing does
		// not reveal which ids exist.
		gatehouse.SecretMatches(cred.ClientID, cred.Secret, nil)
		return gatehouse.Client{}, ErrInvalidClient
	}
	if err != nil {
		return gatehouse.Client{}, err
	}
	ok := gatehouse.SecretMatches(c.ID, cred.Secret, c.SecretHash)
	if !ok || c.Status != gatehouse.StatusEnabled || c.AuthMethod != cred.Method {
		return gatehouse.Client{}, ErrInvalidClient
	}
	return c, nil
}

// IssueToken authenticates the client and mints its tokens. The token path
// writes nothing: the access is noted in memory and stored lazily.
func (s *Service) IssueToken(ctx context.Context, cred ClientCredentials) (token.Issued, error) {
	c, err := s.AuthenticateClient(ctx, cred)
	if err != nil {
		return token.Issued{}, err
	}
	now := s.now()
	issued, err := s.issuer.Issue(c, now)
	if err != nil {
		return token.Issued{}, err
	}
	s.access.note(c.ID, cred.RemoteIP, now)
	s.noteIssue(c.ID, now)
	return issued, nil
}

// Principal is an authenticated caller of the account API.
type Principal struct {
	Client gatehouse.Client
	Claims *token.AccessClaims // nil when the caller signed in otherwise (the console)
	// RemoteIP is where the caller's request came from, for the audit log.
	RemoteIP string
}

// IsTenantAdmin reports whether the caller administers its tenant.
func (p *Principal) IsTenantAdmin() bool { return p.Client.Role == gatehouse.RoleTenantAdmin }

// Authenticate runs every bearer check, in the platform's order: the token
// checks (malformed, issuer, signature, audience, expiry), then the client's
// state now (deleted, disabled, regenerated or disabled since the token was
// minted).
func (s *Service) Authenticate(ctx context.Context, raw string) (*Principal, error) {
	if raw == "" {
		return nil, gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeBearerTokenMissing, "Authorization bearer token is missing.")
	}
	claims, err := s.verify(ctx, raw)
	if err != nil {
		return nil, err
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
	if claims.Generation != c.Generation {
		return nil, gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeTokenRevoked, "The token has been revoked: the client's secret was regenerated or the client was disabled after it was issued.")
	}
	if s.revoked.has(claims.ID) {
		return nil, gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeTokenRevoked, "The token has been revoked.")
	}
	return &Principal{Client: c, Claims: claims}, nil
}
