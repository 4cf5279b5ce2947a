package replica

import (
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/gatehouse-dev/gatehouse"
)

// ClientCache keeps recently used clients in memory, bounded, so the token
// path and the bearer check do not read the store on every request, and
// beside them what the client checks derive from the tenant tree (of type
// T, the service's), under the same trust: whether a client works depends
// on both.
//
// It is only trusted while it can hear of every change: always for a store
// that one process owns (the service drops entries on its own writes), and
// for a shared store only while its change feed is connected. Otherwise
// every lookup goes to the store, and fails with it: fail closed.
//
// Reading through it is the caller's: ask Client, and on a miss take Miss's
// sequence number before reading the store and hand it to AddClient, which
// keeps what was read only if nothing was invalidated meanwhile. A lookup
// that read the store while an invalidation happened may hold the state
// from before the change.
type ClientCache[T any] struct {
	lru *lru.Cache[string, gatehouse.Client]
	// A tenant change can reach any client below it, so tenant entries are
	// only ever dropped all at once (PurgeTenants), and tenantSeq guards
	// their lookups as seq guards the clients'.
	tenants   *lru.Cache[string, T]
	seq       atomic.Uint64
	tenantSeq atomic.Uint64
	trusted   atomic.Bool
	hits      atomic.Uint64
	misses    atomic.Uint64
}

// NewClientCache returns a cache of size clients and size tenant states,
// trusted from the start or not.
func NewClientCache[T any](size int, trusted bool) *ClientCache[T] {
	c, err := lru.New[string, gatehouse.Client](size)
	if err != nil {
		panic(err) // only for size <= 0, which the service never passes
	}
	t, err := lru.New[string, T](size)
	if err != nil {
		panic(err)
	}
	cc := &ClientCache[T]{lru: c, tenants: t}
	cc.trusted.Store(trusted)
	return cc
}

// Client returns a cached client, if the cache is trusted and holds it.
func (c *ClientCache[T]) Client(id string) (gatehouse.Client, bool) {
	if !c.trusted.Load() {
		return gatehouse.Client{}, false
	}
	cl, ok := c.lru.Get(id)
	if ok {
		c.hits.Add(1)
	}
	return cl, ok
}

// Miss counts a lookup that goes to the store and returns the sequence
// number to hand AddClient with what it read.
func (c *ClientCache[T]) Miss() uint64 {
	c.misses.Add(1)
	return c.seq.Load()
}

// AddClient caches a client read from the store, unless the cache is not
// trusted or an invalidation happened since seq was taken.
func (c *ClientCache[T]) AddClient(cl gatehouse.Client, seq uint64) {
	if c.trusted.Load() && c.seq.Load() == seq {
		c.lru.Add(cl.ID, cl)
	}
}

// Tenant returns a cached tenant state, if the cache is trusted and holds
// it.
func (c *ClientCache[T]) Tenant(id string) (T, bool) {
	if !c.trusted.Load() {
		var zero T
		return zero, false
	}
	return c.tenants.Get(id)
}

// TenantSeq is the sequence number to hand AddTenants with what a lookup
// read from the store.
func (c *ClientCache[T]) TenantSeq() uint64 { return c.tenantSeq.Load() }

// AddTenants caches tenant states read from the store, ids[i]'s being
// states[i], under the rule of AddClient.
func (c *ClientCache[T]) AddTenants(ids []string, states []T, seq uint64) {
	if c.trusted.Load() && c.tenantSeq.Load() == seq {
		for i, st := range states {
			c.tenants.Add(ids[i], st)
		}
	}
}

// Invalidate drops one client.
func (c *ClientCache[T]) Invalidate(id string) {
	c.seq.Add(1)
	c.lru.Remove(id)
}

// Purge drops everything, tenants included.
func (c *ClientCache[T]) Purge() {
	c.seq.Add(1)
	c.lru.Purge()
	c.PurgeTenants()
}

// PurgeTenants drops every tenant state.
func (c *ClientCache[T]) PurgeTenants() {
	c.tenantSeq.Add(1)
	c.tenants.Purge()
}

// SetTrusted says whether the cache hears of every change now.
func (c *ClientCache[T]) SetTrusted(trusted bool) { c.trusted.Store(trusted) }

// Stats counts lookups served from memory and from the store, and the
// clients held.
func (c *ClientCache[T]) Stats() (hits, misses uint64, entries int) {
	return c.hits.Load(), c.misses.Load(), c.lru.Len()
}
