package replica

import (
	"crypto/sha256"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/gatehouse-dev/gatehouse/token"
)

// VerifiedTokens remembers access tokens whose signature and claims were
// verified, keyed by a hash of the token (never the token itself), so the
// repeat bearer check skips parsing and RSA verification. What is cached
// cannot change: the signature, issuer and audience of a token are fixed,
// and its time checks only pass more easily later, except expiry, which
// every hit checks again. Client state is never cached here.
type VerifiedTokens struct {
	lru *lru.Cache[[sha256.Size]byte, *token.AccessClaims]
}

// NewVerifiedTokens returns a cache of size tokens.
func NewVerifiedTokens(size int) *VerifiedTokens {
	c, err := lru.New[[sha256.Size]byte, *token.AccessClaims](size)
	if err != nil {
		panic(err)
	}
	return &VerifiedTokens{lru: c}
}

// Get returns the claims of a token verified before that has not expired
// at now, leeway included. An expired one is dropped, so the full check
// answers it (tokenExpired).
func (v *VerifiedTokens) Get(raw string, now time.Time, leeway time.Duration) (*token.AccessClaims, bool) {
	key := sha256.Sum256([]byte(raw))
	c, ok := v.lru.Get(key)
	if !ok {
		return nil, false
	}
	if now.After(c.Expiry.Time().Add(leeway)) {
		v.lru.Remove(key)
		return nil, false
	}
	return c, true
}

// Add remembers a token that passed verification.
func (v *VerifiedTokens) Add(raw string, c *token.AccessClaims) {
	v.lru.Add(sha256.Sum256([]byte(raw)), c)
}
