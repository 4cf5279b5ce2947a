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
