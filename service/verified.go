package service

import (
	"context"
	"crypto/sha256"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/gatehouse-dev/gatehouse/token"
)

// verifiedTokens remembers access tokens whose signature and claims were
// verified, keyed by a hash of the token (never the token itself), so the
// repeat bearer check skips parsing and RSA verification. What is cached
// cannot change: the signature, issuer and audience of a token are fixed,
// and its time checks only pass more easily later, except expiry, which
// every hit checks again. Client state is never cached here.
type verifiedTokens struct {
	lru *lru.Cache[[sha256.Size]byte, *token.AccessClaims]
}

func newVerifiedTokens(size int) *verifiedTokens {
	c, err := lru.New[[sha256.Size]byte, *token.AccessClaims](size)
	if err != nil {
		panic(err)
	}
	return &verifiedTokens{lru: c}
}

// verify is s.verifier.Verify with the cache in front.
func (s *Service) verify(ctx context.Context, raw string) (*token.AccessClaims, error) {
	now := s.now()
	key := sha256.Sum256([]byte(raw))
	if c, ok := s.verified.lru.Get(key); ok {
		if !now.After(c.Expiry.Time().Add(s.verifier.Leeway)) {
			return c, nil
		}
		s.verified.lru.Remove(key)
		// Fall through: the full check answers tokenExpired.
	}
	c, err := s.verifier.Verify(ctx, raw, now)
	if err != nil {
		return nil, err
	}
	s.verified.lru.Add(key, c)
	return c, nil
}
