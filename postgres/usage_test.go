package postgres

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/postgres/pgtest"
)

// TestTokenUsageRacesDeleteClient: a replica's batch that meets the delete of
// one of its clients must neither fail on the foreign key (the batch would
// be retried, and hold up the counts of every other client) nor leave the
// deleted client's counts behind.
func TestTokenUsageRacesDeleteClient(t *testing.T) {
	s := openTest(t, pgtest.NewSchema(t))
	ctx := t.Context()
	if _, err := s.Bootstrap(ctx, testRoot, testAdmin); err != nil {
		t.Fatal(err)
	}
	hour := time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)
	for i := range 30 {
		c := testAdmin
		c.ID, c.Role = fmt.Sprint("racer-", i), gatehouse.RoleNone
		if err := s.CreateClient(ctx, c, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var addErr, delErr error
		wg.Go(func() {
			addErr = s.AddTokenUsage(ctx, []gatehouse.TokenUsage{
				{ClientID: testAdmin.ID, Hour: hour, Count: 1},
				{ClientID: c.ID, Hour: hour, Count: 1},
			})
		})
		wg.Go(func() { delErr = s.DeleteClient(ctx, c.ID, gatehouse.NoAudit) })
		wg.Wait()
		if addErr != nil || delErr != nil {
			t.Fatalf("round %d: AddTokenUsage: %v; DeleteClient: %v", i, addErr, delErr)
		}
		if got, err := s.TokenUsage(ctx, c.ID, time.Time{}); err != nil || len(got) != 0 {
			t.Fatalf("round %d: the deleted client's counts: %v, %v", i, got, err)
		}
	}
	got, err := s.TokenUsage(ctx, testAdmin.ID, time.Time{})
	if err != nil || len(got) != 1 || got[0].Count != 30 {
		t.Errorf("the admin's counts: %+v, %v; want 30 in one hour", got, err)
	}
}

// TestTokenUsagePurgeIsBounded: one flush deletes at most gatehouse.TokenUsagePurgeBatch
// old counts, whatever the backlog, and the next flushes take the rest.
func TestTokenUsagePurgeIsBounded(t *testing.T) {
	s := openTest(t, pgtest.NewSchema(t))
	ctx := t.Context()
	if _, err := s.Bootstrap(ctx, testRoot, testAdmin); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := make([]gatehouse.TokenUsage, gatehouse.TokenUsagePurgeBatch+200)
	for i := range old {
		old[i] = gatehouse.TokenUsage{ClientID: testAdmin.ID, Hour: start.Add(time.Duration(i) * time.Hour), Count: 1}
	}
	if err := s.AddTokenUsage(ctx, old); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM token_usage`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The batch's own newest hour set the cutoff: all but the last two
	// days of it were past retention, and one batch's worth went.
	if n, want := count(), len(old)-gatehouse.TokenUsagePurgeBatch; n != want {
		t.Errorf("after the first flush: %d rows, want %d", n, want)
	}
	now := gatehouse.TokenUsage{ClientID: testAdmin.ID, Hour: old[len(old)-1].Hour, Count: 1}
	if err := s.AddTokenUsage(ctx, []gatehouse.TokenUsage{now}); err != nil {
		t.Fatal(err)
	}
	if n, want := count(), int(gatehouse.TokenUsageRetention/time.Hour)+1; n != want {
		t.Errorf("after the second flush: %d rows, want %d", n, want)
	}
}
