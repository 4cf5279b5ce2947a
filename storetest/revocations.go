package storetest

import (
	"errors"
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

	{"Revocations/EmptyTokenID", func(t *testing.T, s gatehouse.Store) {
		err := s.RevokeToken(t.Context(), gatehouse.Revocation{ExpiresAt: at(time.Hour)}, gatehouse.NoAudit)
		if !errors.Is(err, gatehouse.ErrInvalid) {
			t.Errorf("RevokeToken without a jti: %v, want ErrInvalid", err)
		}
	}},
}
