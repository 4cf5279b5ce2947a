package replica

import (
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// RevocationSet holds the jti of every revoked token that may still be
// accepted in memory, so the bearer check asks a map, not the store, on
// every request. Which ones may be forgotten the caller decides: the
// service's cutoff trusts no step of the wall clock (see
// service.syncRevocations).
type RevocationSet struct {
	mu  sync.RWMutex
	exp map[string]time.Time // jti → when the token expires
}

// NewRevocationSet returns an empty set.
func NewRevocationSet() *RevocationSet { return &RevocationSet{exp: map[string]time.Time{}} }

// Has reports whether a token is revoked.
func (r *RevocationSet) Has(jti string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.exp[jti]
	return ok
}

// Add notes a revocation made here, before the next reload brings it.
func (r *RevocationSet) Add(jti string, exp time.Time) {
	r.mu.Lock()
	r.exp[jti] = exp
	r.mu.Unlock()
}

// Merge adds the store's revocations and forgets tokens expired before
// cutoff. It never drops a live entry: a revocation is never undone, and a
// revocation noted here while the store was being read must survive the
// reload that missed it.
func (r *RevocationSet) Merge(revs []gatehouse.Revocation, cutoff time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for jti, exp := range r.exp {
		if exp.Before(cutoff) {
			delete(r.exp, jti)
		}
	}
	for _, rv := range revs {
		r.exp[rv.TokenID] = rv.ExpiresAt
	}
}
