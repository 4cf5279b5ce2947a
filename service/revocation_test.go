package service_test

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/service"
)

var horizonT0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func storedHorizon(t *testing.T, st gatehouse.Store) time.Time {
	t.Helper()
	h, err := st.AdvanceRevocationHorizon(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// startSyncing starts a service on st that resyncs every few milliseconds,
// and returns the count of its resyncs.
func startSyncing(t *testing.T, st gatehouse.Store, clock *testkit.Clock) *testkit.Events {
	t.Helper()
	synced := testkit.NewEvents()
	startServiceWith(t, service.Config{
		Store: st, Now: clock.Now, Elapsed: clock.Elapsed,
		SyncInterval: 5 * time.Millisecond, Hooks: service.Hooks{Synced: synced.Add},
	})
	return synced
}

// A store from before horizons, upgraded while the wall clock is a day
// ahead: the revocations it holds are kept until their tokens' real expiry
// is measured to have passed, not purged at the first start.
func TestFirstHorizonTrustsNoStepOfTheClock(t *testing.T) {
	st := openStore(t, t.TempDir())
	rv := gatehouse.Revocation{TokenID: "jti", ClientID: "c", RevokedAt: horizonT0.Add(-10 * time.Minute), ExpiresAt: horizonT0.Add(50 * time.Minute)}
	if err := st.RevokeToken(t.Context(), rv, gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(horizonT0.Add(24 * time.Hour))
	startSyncing(t, st, clock).Wait(t, 2, "two resyncs")
	if revs, _ := st.Revocations(t.Context(), time.Time{}); len(revs) != 1 {
		t.Fatalf("stored revocations after the first start: %+v, want the live one", revs)
	}
	if h := storedHorizon(t, st); !h.Equal(rv.RevokedAt) {
		t.Errorf("first horizon = %v, want the first revocation's time %v", h, rv.RevokedAt)
	}
}

// Replicas sharing a store each move the horizon by the time they measured
// passing, so together they move it by that time once, not once each; and a
// wall clock stepped back holds the horizon without costing it the time
// measured meanwhile.
func TestHorizonMovesByMeasuredTime(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	clock := testkit.NewClock(horizonT0)
	a := startSyncing(t, st, clock)
	b := startSyncing(t, openStore(t, dir), clock)
	settle := func() {
		t.Helper()
		a.Wait(t, 2, "replica a's resyncs")
		b.Wait(t, 2, "replica b's resyncs")
	}
	settle()
	if h := storedHorizon(t, st); !h.Equal(horizonT0) {
		t.Fatalf("horizon of a new store = %v, want its first start %v", h, horizonT0)
	}

	clock.Step(24 * time.Hour) // far enough that the wall clock caps nothing
	clock.Advance(time.Hour)
	settle()
	if h, want := storedHorizon(t, st), horizonT0.Add(time.Hour); !h.Equal(want) {
		t.Fatalf("after an hour passed on two replicas: horizon %v, want %v", h, want)
	}

	clock.Step(-25*time.Hour - 30*time.Minute) // the wall clock behind the horizon
	clock.Advance(30 * time.Minute)
	settle()
	if h, want := storedHorizon(t, st), horizonT0.Add(time.Hour); !h.Equal(want) {
		t.Fatalf("with the wall clock behind it the horizon moved: %v, want %v", h, want)
	}
	clock.Step(90 * time.Minute) // corrected: the wall clock reads the 90 minutes passed
	settle()
	if h, want := storedHorizon(t, st), horizonT0.Add(90*time.Minute); !h.Equal(want) {
		t.Errorf("after the wall clock came back: horizon %v, want %v", h, want)
	}
}
