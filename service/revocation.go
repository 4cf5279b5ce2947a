package service

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/token"
)

// syncRevocations reloads the live revocations from the store (revocations
// made by other processes on the same store arrive this way) and purges
// those whose tokens have expired, leeway included.
func (s *Service) syncRevocations(ctx context.Context) error {
	cutoff := s.now().Add(-s.verifier.Leeway)
	if _, err := s.store.PurgeRevocations(ctx, cutoff.Add(-time.Minute)); err != nil {
		return err
	}
	revs, err := s.store.Revocations(ctx, cutoff)
	if err != nil {
		return err
	}
	s.revoked.Merge(revs, cutoff)
	return nil
}

// RevokeToken revokes an access token on behalf of the client it was
// issued to (RFC 7009). Unknown, invalid, expired and foreign tokens are
// not an error: the answer must not tell a caller anything about a token it
// does not own, and a token that does not work needs no revoking.
func (s *Service) RevokeToken(ctx context.Context, cred ClientCredentials, raw string) error {
	caller, err := s.AuthenticateClient(ctx, cred)
	if err != nil {
		return err
	}
	claims, err := s.verify(ctx, raw)
	if err != nil {
		if errors.Is(err, gatehouse.ErrUnauthenticated) {
			return nil
		}
		return unavailable(err)
	}
	if claims.ClientID != caller.ID || claims.ID == "" {
		return nil
	}
	rv := gatehouse.Revocation{
		TokenID:   claims.ID,
		ClientID:  claims.ClientID,
		ExpiresAt: claims.Expiry.Time().UTC(),
		RevokedAt: s.now().UTC(),
	}
	actor := &Principal{Client: caller, RemoteIP: cred.RemoteIP}
	if err := s.store.RevokeToken(ctx, rv, s.audited(actor, ActionTokenRevoke, rv.TokenID)); err != nil {
		return unavailable(err)
	}
	s.revoked.Add(rv.TokenID, rv.ExpiresAt)
	return nil
}

// Introspect answers whether a token is active now (RFC 7662), by the very
// checks a bearer-authenticated request passes. An inactive token gets no
// reason; only a failure of the store itself is an error.
func (s *Service) Introspect(ctx context.Context, raw string) (*token.AccessClaims, bool, error) {
	p, err := s.Authenticate(ctx, raw)
	if err != nil {
		if errors.Is(err, gatehouse.ErrUnauthenticated) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return p.Claims, true, nil
}
