package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/gatehouse-dev/gatehouse"
)

// clientCache keeps recently used clients in memory, bounded, so the token
// path and the bearer check do not read the store on every request.
//
// It is only trusted while it can hear of every change: always for a store
// that one process owns (the service drops entries on its own writes), and
// for a shared store only while its change feed is connected. Otherwise
// every lookup goes to the store, and fails with it: fail closed.
type clientCache struct {
	lru *lru.Cache[string, gatehouse.Client]
	// tenants holds what the client checks derive from the tenant tree
	// (see tenantState in tenants.go), under the same trust as the clients:
	// whether a client works depends on both. A tenant change can reach
	// any client below it, so tenant entries are only ever dropped all at
	// once (purgeTenants), and tenantSeq guards their lookups as seq
	// guards the clients'.
	tenants *lru.Cache[string, tenantState]
	// seq increases on every invalidation. A lookup that read the store
	// while an invalidation happened does not cache what it read, which
	// may be the state from before the change.
	seq       atomic.Uint64
	tenantSeq atomic.Uint64
	trusted   atomic.Bool
	hits      atomic.Uint64
	misses    atomic.Uint64
}

func newClientCache(size int, trusted bool) *clientCache {
	c, err := lru.New[string, gatehouse.Client](size)
	if err != nil {
		panic(err) // only for size <= 0, which New never passes
	}
	t, err := lru.New[string, tenantState](size)
	if err != nil {
		panic(err)
	}
	cc := &clientCache{lru: c, tenants: t}
	cc.trusted.Store(trusted)
	return cc
}

func (c *clientCache) invalidate(id string) {
	c.seq.Add(1)
	c.lru.Remove(id)
}

// purge drops everything, tenants included.
func (c *clientCache) purge() {
	c.seq.Add(1)
	c.lru.Purge()
	c.purgeTenants()
}

func (c *clientCache) purgeTenants() {
	c.tenantSeq.Add(1)
	c.tenants.Purge()
}

// lookupClient returns a client, from the cache when it can be trusted.
// Missing clients are not cached: a client created on another replica must
// work here at once.
func (s *Service) lookupClient(ctx context.Context, id string) (gatehouse.Client, error) {
	if !storableID(id) {
		return gatehouse.Client{}, fmt.Errorf("client id %w", gatehouse.ErrNotFound)
	}
	cc := s.clients
	if cc.trusted.Load() {
		if c, ok := cc.lru.Get(id); ok {
			cc.hits.Add(1)
			return c, nil
		}
	}
	cc.misses.Add(1)
	seq := cc.seq.Load()
	ctx, cancel := context.WithTimeout(ctx, s.storeTimeout)
	defer cancel()
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		if !errors.Is(err, gatehouse.ErrNotFound) {
			err = unavailable(err)
		}
		return gatehouse.Client{}, err
	}
	if cc.trusted.Load() && cc.seq.Load() == seq {
		cc.lru.Add(id, c)
	}
	return c, nil
}

// changeListener applies a store's change feed to what this replica keeps
// in memory: the client cache, the revocation set and the key ring.
type changeListener struct {
	s *Service
	// kick asks the refresher to reload revocations and keys; a buffered
	// channel of one coalesces a burst of notices into one reload.
	kickRevocations chan struct{}
	kickKeys        chan struct{}
	connected       atomic.Bool
}

func (s *Service) handleChange(ch gatehouse.Change) {
	l := s.feed
	switch ch.Kind {
	case gatehouse.ChangeClient:
		s.clients.invalidate(ch.ID)
	case gatehouse.ChangeTenant:
		s.clients.purgeTenants()
	case gatehouse.ChangeRevocation:
		notify(l.kickRevocations)
	case gatehouse.ChangeKeys:
		notify(l.kickKeys)
	case gatehouse.ChangeResync:
		s.clients.purge()
		l.connected.Store(true)
		s.clients.trusted.Store(true)
		notify(l.kickRevocations)
		notify(l.kickKeys)
		s.log.Info("change feed connected")
	case gatehouse.ChangeLost:
		s.clients.trusted.Store(false)
		s.clients.purge()
		l.connected.Store(false)
		s.log.Warn("change feed lost; reading every client from the store until it is back")
	}
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// runFeed watches the store's change feed and reloads what it says has
// changed, until the service closes.
func (s *Service) runFeed(ctx context.Context, feed gatehouse.ChangeFeed) {
	l := s.feed
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.kickRevocations:
				rctx, cancel := context.WithTimeout(ctx, s.storeTimeout)
				if err := s.syncRevocations(rctx); err != nil && ctx.Err() == nil {
					s.log.Warn("reloading token revocations failed; will retry", "err", err)
					time.AfterFunc(time.Second, func() { notify(l.kickRevocations) })
				}
				cancel()
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.kickKeys:
				kctx, cancel := context.WithTimeout(ctx, s.storeTimeout)
				if err := s.reloadKeys(kctx); err != nil && ctx.Err() == nil {
					s.log.Warn("reloading signing keys failed; will retry", "err", err)
					time.AfterFunc(time.Second, func() { notify(l.kickKeys) })
				}
				cancel()
			}
		}
	}()
	if err := feed.WatchChanges(ctx, s.handleChange); err != nil && ctx.Err() == nil {
		s.log.Error("change feed stopped", "err", err)
	}
	wg.Wait()
}

// CacheStats counts lookups served from memory and from the store, for
// metrics.
type CacheStats struct {
	ClientHits, ClientMisses uint64
	ClientEntries            int
}

// CacheStats reports the client cache's counters.
func (s *Service) CacheStats() CacheStats {
	return CacheStats{
		ClientHits:    s.clients.hits.Load(),
		ClientMisses:  s.clients.misses.Load(),
		ClientEntries: s.clients.lru.Len(),
	}
}
