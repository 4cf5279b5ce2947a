package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/token"
)

// A revocation may be forgotten once its token can no longer be accepted:
// once the time is past its exp plus the leeway. "The time" is not the wall
// clock. A wall clock stepped forward (an NTP correction, a VM resumed with
// a stale clock) would make every revocation look expired, and once it was
// stepped back the revoked tokens, still inside their real exp, would be
// accepted again, in this process and, the rows being purged, in every
// other and after any restart.
//
// So revocations are forgotten by the revocation horizon instead: a time
// that has certainly passed, stored (AdvanceRevocationHorizon) so that every
// replica and every restart shares it, and moved on only by time a
// monotonic clock measured passing. Each process reads the stored horizon,
// then raises it to what it read plus the time it measured since, and never
// past its own wall clock. No step of a wall clock moves it on faster than
// time passes; a fresh process, with no monotonic history, starts from the
// stored horizon and moves it on from there.
//
// The price is that the horizon lags: time no process measured (all of
// them stopped, or a VM suspended, whose monotonic clock stops too) is
// never counted, so revocations are kept longer than they must be by that
// much. They are a few dozen bytes each, in the store and in memory; a
// revoked token accepted again is a hole.
//
// A revocation is forgotten, from memory and from the store, once the
// earlier of the horizon and this process's wall clock is past its exp,
// plus the leeway, plus revocationMargin: a wall clock stepped back keeps
// what the tokens it would accept need.

// revocationMargin is how long after its token's expiry, leeway included,
// the horizon must be before a revocation is forgotten. It covers the skew
// between replicas' wall clocks, and the drift of a monotonic clock that NTP
// slews (at most 500 ppm, some 43 s a day) during a long wall-clock step.
const revocationMargin = 5 * time.Minute

// revocationHorizon is this process's view of the stored horizon: what it
// last read, and when by its monotonic clock, so it can move the horizon on
// by the time it measured passing since.
type revocationHorizon struct {
	mu     sync.Mutex
	seen   time.Time     // zero before the first read
	seenAt time.Duration // Elapsed just after seen was read
}

// syncRevocations reloads the revocations from the store (revocations
// made by other processes on the same store arrive this way), after
// purging those the horizon says no token can need any more.
func (s *Service) syncRevocations(ctx context.Context) error {
	horizon, err := s.advanceRevocationHorizon(ctx)
	if err != nil {
		return err
	}
	cutoff := earlier(horizon, s.now()).Add(-s.verifier.Leeway - revocationMargin)
	if _, err := s.store.PurgeRevocations(ctx, cutoff); err != nil {
		return err
	}
	revs, err := s.store.Revocations(ctx, cutoff)
	if err != nil {
		return err
	}
	s.revoked.Merge(revs, cutoff)
	return nil
}

// advanceRevocationHorizon moves the stored horizon on by the time this
// process measured passing since it last read it, no further than its
// wall clock, and returns the horizon stored then. With nothing to add (the
// first call of a process, or a wall clock behind the horizon) it only
// reads.
func (s *Service) advanceRevocationHorizon(ctx context.Context) (time.Time, error) {
	h := &s.horizon
	h.mu.Lock()
	seen, seenAt := h.seen, h.seenAt
	h.mu.Unlock()
	var to time.Time
	if !seen.IsZero() {
		if next := earlier(s.now(), seen.Add(s.elapsed()-seenAt)); next.After(seen) {
			to = next
		}
	}
	got, err := s.store.AdvanceRevocationHorizon(ctx, to)
	if err == nil && got.IsZero() {
		var first time.Time
		if first, err = s.firstRevocationHorizon(ctx); err == nil {
			got, err = s.store.AdvanceRevocationHorizon(ctx, first)
		}
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("revocation horizon: %w", err)
	}
	now := s.elapsed()
	h.mu.Lock()
	// What was read is got at now; keep whichever reading bounds the
	// present higher. Not always the latest: a horizon held back by a wall
	// clock stepped back must not forget the time measured meanwhile.
	if h.seen.IsZero() || got.Add(-now).After(h.seen.Add(-h.seenAt)) {
		h.seen, h.seenAt = got, now
	}
	h.mu.Unlock()
	return got, nil
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// firstRevocationHorizon is the horizon of a store that has none yet: a
// new store, or one from before horizons. Nothing but the wall clock says
// what time it is, but a revocation already stored was made by a clock
// that no step had moved yet, as far as anyone knows; starting no later
// than the first of them, none is forgotten before its token's real expiry
// is measured to have passed.
func (s *Service) firstRevocationHorizon(ctx context.Context) (time.Time, error) {
	revs, err := s.store.Revocations(ctx, time.Time{})
	if err != nil {
		return time.Time{}, err
	}
	first := s.now()
	for _, r := range revs {
		if !r.RevokedAt.IsZero() && r.RevokedAt.Before(first) {
			first = r.RevokedAt
		}
	}
	return first, nil
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
