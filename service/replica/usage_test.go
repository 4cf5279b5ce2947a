package replica

import (
	"fmt"
	"testing"
	"time"
)

func total(hs []HourCount) (n int64) {
	for _, h := range hs {
		n += h.Count
	}
	return n
}

func TestUsageCounterWindow(t *testing.T) {
	u := newUsageCounter(100)
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	u.note("a", now)
	u.note("a", now.Add(-10*time.Minute))
	u.note("a", now.Add(-time.Hour))
	u.note("a", now.Add(-23*time.Hour))
	u.note("a", now.Add(-25*time.Hour)) // hour 14:00 yesterday... outside the window
	u.note("b", now)

	got := u.counts("a", now)
	if len(got) != UsageHours {
		t.Fatalf("%d hours, want %d", len(got), UsageHours)
	}
	if first, last := got[0].Hour, got[UsageHours-1].Hour; !first.Equal(time.Date(2026, 3, 9, 15, 0, 0, 0, time.UTC)) || !last.Equal(time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)) {
		t.Errorf("window %s to %s", first, last)
	}
	if got[23].Count != 2 || got[22].Count != 1 || got[0].Count != 1 || total(got) != 4 {
		t.Errorf("counts %v", got)
	}

	// A day later the old slots read as zero without anything rotating,
	// and a note that old no longer lands in a reused slot.
	later := now.Add(24 * time.Hour)
	u.note("a", later)
	u.note("a", now)
	if got := u.counts("a", later); got[23].Count != 1 || total(got) != 1 {
		t.Errorf("a day later: %v", got)
	}
	if got := u.counts("nobody", now); total(got) != 0 {
		t.Errorf("unknown client: %v", got)
	}
}

func TestUsageCounterIsBounded(t *testing.T) {
	u := newUsageCounter(32)
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	for i := range 10_000 {
		u.note(fmt.Sprint("client-", i), now)
	}
	n := 0
	for i := range u.shards {
		n += len(u.shards[i].m)
	}
	if n > 32 {
		t.Errorf("%d clients kept, want at most 32", n)
	}
	// The most recent client is always kept.
	if total(u.counts("client-9999", now)) != 1 {
		t.Error("the latest client was evicted")
	}
}

func TestUsageCounterForgetsIdleClients(t *testing.T) {
	u := newUsageCounter(1000)
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	for i := range 100 {
		u.note(fmt.Sprint("client-", i), now)
	}
	// Each shard sweeps at its first note of an hour; 500 active clients
	// reach every one of the 16 shards (all but certainly).
	later := now.Add(25 * time.Hour)
	for i := range 500 {
		u.note(fmt.Sprint("active-", i), later)
	}
	for i := range u.shards {
		for id := range u.shards[i].m {
			if id[:6] != "active" {
				t.Fatalf("idle client %s still kept a day later", id)
			}
		}
	}
}
