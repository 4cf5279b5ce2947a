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
// cannot change: the signature, issuer and audience of a token are fixed.
// Its time checks can: every hit checks expiry again, and nbf and iat too,
// which a clock stepped back can make fail. Client state is never cached
// here.
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

// Get returns the claims of a token verified before that is valid at now,
// leeway included, as the full check judges it. One that is not is
// dropped, so the full check answers it (tokenExpired, or not valid yet).
func (v *VerifiedTokens) Get(raw string, now time.Time, leeway time.Duration) (*token.AccessClaims, bool) {
	key := sha256.Sum256([]byte(raw))
	c, ok := v.lru.Get(key)
	if !ok {
		return nil, false
	}
	latest := now.Add(leeway)
	if now.After(c.Expiry.Time().Add(leeway)) ||
		(c.NotBefore != nil && latest.Before(c.NotBefore.Time())) ||
		(c.IssuedAt != nil && latest.Before(c.IssuedAt.Time())) {
		v.lru.Remove(key)
		return nil, false
	}
	return c, true
}

// Add remembers a token that passed verification.
func (v *VerifiedTokens) Add(raw string, c *token.AccessClaims) {
	v.lru.Add(sha256.Sum256([]byte(raw)), c)
}
