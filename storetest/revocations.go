package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

var revocationTests = []test{
	{"Revocations/RoundTripAndExpiry", func(t *testing.T, s gatehouse.Store) {
		ctx := t.Context()
		early := gatehouse.Revocation{TokenID: "jti-early", ClientID: "c1", ExpiresAt: at(time.Hour), RevokedAt: at(0)}
		late := gatehouse.Revocation{TokenID: "jti-late", ClientID: "c2", ExpiresAt: at(3 * time.Hour), RevokedAt: at(time.Minute)}
		for _, r := range []gatehouse.Revocation{late, early} {
			if err := s.RevokeToken(ctx, r, gatehouse.NoAudit); err != nil {
				t.Fatalf("RevokeToken(%s): %v", r.TokenID, err)
			}
		}
		got, err := s.Revocations(ctx, at(0))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].TokenID != early.TokenID || got[1].TokenID != late.TokenID {
			t.Fatalf("Revocations = %+v, want early then late", got)
		}
		if got[1].ClientID != "c2" || !got[1].ExpiresAt.Equal(late.ExpiresAt) || !got[1].RevokedAt.Equal(late.RevokedAt) {
			t.Errorf("round trip: got %+v, want %+v", got[1], late)
		}
		// A revocation of a token already expired is of no interest.
		if got, _ := s.Revocations(ctx, at(2*time.Hour)); len(got) != 1 || got[0].TokenID != late.TokenID {
			t.Errorf("Revocations after the early expiry = %+v", got)
		}
	}},

	{"Revocations/Idempotent", func(t *testing.T, s gatehouse.Store) {
		ctx := t.Context()
		r := gatehouse.Revocation{TokenID: "jti", ClientID: "c1", ExpiresAt: at(time.Hour), RevokedAt: at(0)}
		for i := 0; i < 3; i++ {
			again := r
			again.RevokedAt = at(time.Duration(i) * time.Minute)
			if err := s.RevokeToken(ctx, again, gatehouse.NoAudit); err != nil {
				t.Fatalf("RevokeToken #%d: %v", i, err)
			}
		}
		got, _ := s.Revocations(ctx, at(0))
		if len(got) != 1 || !got[0].RevokedAt.Equal(at(0)) {
			t.Errorf("after three revocations: %+v, want the first one only", got)
		}
	}},

	{"Revocations/Purge", func(t *testing.T, s gatehouse.Store) {
		ctx := t.Context()
		for i, exp := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour} {
			r := gatehouse.Revocation{TokenID: string(rune('a' + i)), ClientID: "c", ExpiresAt: at(exp), RevokedAt: at(0)}
			if err := s.RevokeToken(ctx, r, gatehouse.NoAudit); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.PurgeRevocations(ctx, at(2*time.Hour+time.Second))
		if err != nil || n != 2 {
			t.Fatalf("PurgeRevocations = %d, %v; want 2, nil", n, err)
		}
		got, _ := s.Revocations(ctx, at(0))
		if len(got) != 1 || got[0].TokenID != "c" {
			t.Errorf("after purge: %+v", got)
		}
	}},

	{"Revocations/PurgeInBatches", func(t *testing.T, s gatehouse.Store) {
		// One batch and a few more expired, and one that is not: each purge
		// takes at most a batch, soonest expiry first, and never the live one.
		ctx := t.Context()
		expired := gatehouse.RevocationPurgeBatch + 3
		for i := range expired + 1 {
			r := gatehouse.Revocation{TokenID: fmt.Sprintf("jti-%05d", i), ClientID: "c",
				ExpiresAt: at(time.Duration(i) * time.Second), RevokedAt: at(-time.Hour)}
			if err := s.RevokeToken(ctx, r, gatehouse.NoAudit); err != nil {
				t.Fatal(err)
			}
		}
		cutoff := at(time.Duration(expired) * time.Second)
		for i, want := range []int{gatehouse.RevocationPurgeBatch, 3, 0} {
			if n, err := s.PurgeRevocations(ctx, cutoff); err != nil || n != want {
				t.Fatalf("purge #%d = %d, %v; want %d", i+1, n, err, want)
			}
			if i > 0 {
				continue
			}
			left, _ := s.Revocations(ctx, at(-time.Hour))
			if len(left) != 4 || left[0].TokenID != fmt.Sprintf("jti-%05d", gatehouse.RevocationPurgeBatch) {
				t.Fatalf("after one batch %d left, first %+v: want the 4 latest", len(left), left[:min(1, len(left))])
			}
		}
		left, _ := s.Revocations(ctx, at(-time.Hour))
		if len(left) != 1 || !left[0].ExpiresAt.Equal(cutoff) {
			t.Errorf("after the purges: %+v, want the one expiring at the cutoff", left)
		}
	}},

	{"Revocations/HorizonOnlyGrows", func(t *testing.T, s gatehouse.Store) {
		ctx := t.Context()
		advance := func(to time.Time) time.Time {
			t.Helper()
			h, err := s.AdvanceRevocationHorizon(ctx, to)
			if err != nil {
				t.Fatalf("AdvanceRevocationHorizon(%v): %v", to, err)
			}
			return h
		}
		if h := advance(time.Time{}); !h.IsZero() {
			t.Fatalf("a fresh store's horizon = %v, want none", h)
		}
		if h := advance(time.Time{}); !h.IsZero() {
			t.Fatalf("reading the horizon stored %v", h)
		}
		for _, step := range []struct {
			to, want time.Time
		}{
			{at(time.Hour), at(time.Hour)},
			{at(time.Minute), at(time.Hour)}, // back: kept
			{time.Time{}, at(time.Hour)},     // a read
			{at(time.Hour + time.Microsecond), at(time.Hour + time.Microsecond)},
			{at(30 * 24 * time.Hour), at(30 * 24 * time.Hour)},
			{at(-365 * 24 * time.Hour), at(30 * 24 * time.Hour)},
		} {
			h := advance(step.to)
			if !h.Equal(step.want) || h.Location() != time.UTC {
				t.Fatalf("advance to %v = %v, want %v in UTC", step.to, h, step.want)
			}
		}
	}},

	{"Revocations/HorizonConcurrentAdvances", func(t *testing.T, s gatehouse.Store) {
		// Replicas advancing together: each gets at least what it passed
		// (none is lost under another's write) and the greatest wins.
		ctx := t.Context()
		const writers = 8
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 5 {
					to := at(time.Duration(j*writers+i) * time.Second)
					h, err := s.AdvanceRevocationHorizon(ctx, to)
					if err == nil && h.Before(to) {
						err = fmt.Errorf("advance to %v returned %v", to, h)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		want := at(time.Duration(5*writers-1) * time.Second)
		if h, err := s.AdvanceRevocationHorizon(ctx, time.Time{}); err != nil || !h.Equal(want) {
			t.Errorf("horizon = %v, %v; want %v", h, err, want)
		}
	}},

	{"Revocations/EmptyTokenID", func(t *testing.T, s gatehouse.Store) {
		err := s.RevokeToken(t.Context(), gatehouse.Revocation{ExpiresAt: at(time.Hour)}, gatehouse.NoAudit)
		if !errors.Is(err, gatehouse.ErrInvalid) {
			t.Errorf("RevokeToken without a jti: %v, want ErrInvalid", err)
		}
	}},
}
