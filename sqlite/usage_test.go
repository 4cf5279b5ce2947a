package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// TestTokenUsagePurgeIsBounded: one flush deletes at most gatehouse.TokenUsagePurgeBatch
// old counts, whatever the backlog, and the next flushes take the rest.
func TestTokenUsagePurgeIsBounded(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db"))
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
		if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM token_usage`).Scan(&n); err != nil {
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
