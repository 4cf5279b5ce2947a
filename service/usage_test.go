package service

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
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

func TestTokenUsageFollowsGetClientRules(t *testing.T) {
	clock := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	svc, admin, _ := consoleTestService(t, func() time.Time { return clock })
	ctx := t.Context()
	a, _, err := svc.CreateClient(ctx, admin, NewClient{})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := svc.CreateClient(ctx, admin, NewClient{})
	if err != nil {
		t.Fatal(err)
	}
	svc.noteIssue(a.ID, clock)
	svc.noteIssue(a.ID, clock)

	for _, tc := range []struct {
		who  *Principal
		id   string
		want error
		n    int64
	}{
		{admin, a.ID, nil, 2},
		{admin, b.ID, nil, 0},
		{&Principal{Client: a}, a.ID, nil, 2},
		{&Principal{Client: a}, b.ID, gatehouse.ErrForbidden, 0},
		{admin, "missing", gatehouse.ErrNotFound, 0},
		{&Principal{Client: gatehouse.Client{ID: "x", TenantID: "elsewhere", Role: gatehouse.RoleTenantAdmin}}, a.ID, gatehouse.ErrNotFound, 0},
	} {
		got, err := svc.TokenUsage(ctx, tc.who, tc.id)
		if !errors.Is(err, tc.want) || (err == nil && total(got) != tc.n) {
			t.Errorf("%s reads %s: %d tokens, %v; want %d, %v", tc.who.Client.ID, tc.id, total(got), err, tc.n, tc.want)
		}
	}
}

func TestTokenUsageIsPerService(t *testing.T) {
	s1, _, _ := consoleTestService(t, nil)
	s2, _, _ := consoleTestService(t, nil)
	s1.noteIssue("a", time.Now())
	if s1.usage() == s2.usage() {
		t.Fatal("two services share a counter")
	}
	if total(s2.usage().counts("a", time.Now())) != 0 {
		t.Error("a token of one service counted by another")
	}
}

// BenchmarkNoteIssue is the cost the counter adds to every token issued.
func BenchmarkNoteIssue(b *testing.B) {
	s := &Service{}
	ids := make([]string, 64)
	for i := range ids {
		ids[i] = fmt.Sprint("client-", i)
	}
	now := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.noteIssue(ids[i%len(ids)], now)
			i++
		}
	})
}
