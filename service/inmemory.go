package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/service/replica"
	"github.com/gatehouse-dev/gatehouse/token"
)

// What the service keeps in memory lives in package replica; the service
// uses it through these interfaces, which name only what its rules need.

// clientCache holds clients and tenant states between requests.
type clientCache interface {
	Client(id string) (gatehouse.Client, bool)
	Miss() uint64
	AddClient(c gatehouse.Client, seq uint64)
	Tenant(id string) (tenantState, bool)
	TenantSeq() uint64
	AddTenants(ids []string, states []tenantState, seq uint64)
	Invalidate(id string)
	Purge()
	PurgeTenants()
	Stats() (hits, misses uint64, entries int)
}

// accessLog notes client accesses and issued tokens, and writes them in
// the background.
type accessLog interface {
	Note(clientID, ip string, at time.Time)
	Latest(clientID string) (gatehouse.ClientAccess, bool)
	CountIssue(clientID string, at time.Time)
	Usage(ctx context.Context, clientID string, now time.Time) ([]HourCount, error)
	Start()
	Stop(ctx context.Context) error
}

// revocations are the revoked, unexpired tokens.
type revocations interface {
	Has(jti string) bool
	Add(jti string, exp time.Time)
	Merge(revs []gatehouse.Revocation, cutoff time.Time)
}

// verifiedCache remembers tokens that passed verification.
type verifiedCache interface {
	Get(raw string, now time.Time, leeway time.Duration) (*token.AccessClaims, bool)
	Add(raw string, c *token.AccessClaims)
}

// HourCount is how many tokens one client was issued in one clock hour.
type HourCount = replica.HourCount

// UsageHours is how far back TokenUsage looks: the last day, by the hour.
const UsageHours = replica.UsageHours

// Hooks are called by the background work, so that tests can wait for it
// instead of sleeping. Nil functions are not called.
type Hooks struct {
	// Flushed: a round of writing client accesses and token counts ended,
	// with this outcome (also the last one, at Close).
	Flushed func(error)
	// Synced: a periodic resync ended.
	Synced func()
	// Changed: a change from the store's change feed was applied.
	Changed func(gatehouse.Change)
}

// lookupClient returns a client, from the cache when it can be trusted.
// Missing clients are not cached: a client created on another replica must
// work here at once.
func (s *Service) lookupClient(ctx context.Context, id string) (gatehouse.Client, error) {
	if !storableID(id) {
		return gatehouse.Client{}, fmt.Errorf("client id %w", gatehouse.ErrNotFound)
	}
	if c, ok := s.clients.Client(id); ok {
		return c, nil
	}
	seq := s.clients.Miss()
	ctx, cancel := context.WithTimeout(ctx, s.storeTimeout)
	defer cancel()
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		if !errors.Is(err, gatehouse.ErrNotFound) {
			err = unavailable(err)
		}
		return gatehouse.Client{}, err
	}
	s.clients.AddClient(c, seq)
	return c, nil
}

// CacheStats counts lookups served from memory and from the store, for
// metrics.
type CacheStats struct {
	ClientHits, ClientMisses uint64
	ClientEntries            int
}

// CacheStats reports the client cache's counters.
func (s *Service) CacheStats() CacheStats {
	hits, misses, entries := s.clients.Stats()
	return CacheStats{ClientHits: hits, ClientMisses: misses, ClientEntries: entries}
}

// verify is s.verifier.Verify with the cache of verified tokens in front.
func (s *Service) verify(ctx context.Context, raw string) (*token.AccessClaims, error) {
	now := s.now()
	if c, ok := s.verified.Get(raw, now, s.verifier.Leeway); ok {
		return c, nil
	}
	c, err := s.verifier.Verify(ctx, raw, now)
	if err != nil {
		return nil, err
	}
	s.verified.Add(raw, c)
	return c, nil
}

// noteIssue counts a token issued to a client, in memory only: IssueToken
// calls it beside noting the access, and like that it never waits for the
// store, which gets the counts in batches.
func (s *Service) noteIssue(clientID string, at time.Time) { s.access.CountIssue(clientID, at) }

// TokenUsage returns how many tokens this data center issued to a client
// in each of the last UsageHours hours, oldest first, ending with the
// current hour: the counts every replica has flushed to the store, plus
// this replica's not yet flushed. The caller must be allowed to read the
// client (GetClient's rules: itself, or any client of its tenant for a
// tenant admin).
func (s *Service) TokenUsage(ctx context.Context, p *Principal, clientID string) ([]HourCount, error) {
	if _, err := s.GetClient(ctx, p, clientID); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.storeTimeout)
	defer cancel()
	hours, err := s.access.Usage(ctx, clientID, s.now())
	if err != nil {
		return nil, unavailable(err)
	}
	return hours, nil
}
