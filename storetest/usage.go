package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// hourAt is the start of the UTC hour n hours after the one holding base.
func hourAt(n int) time.Time { return base.Truncate(time.Hour).Add(time.Duration(n) * time.Hour).UTC() }

func mustAddUsage(t *testing.T, s gatehouse.Store, counts ...gatehouse.TokenUsage) {
	t.Helper()
	if err := s.AddTokenUsage(t.Context(), counts); err != nil {
		t.Fatalf("AddTokenUsage: %v", err)
	}
}

// usageIs fails t unless the client's counts from since on are want, in
// order, with hours as UTC instants.
func usageIs(t *testing.T, s gatehouse.Store, clientID string, since time.Time, want ...gatehouse.TokenUsage) {
	t.Helper()
	got, err := s.TokenUsage(t.Context(), clientID, since)
	if err != nil {
		t.Fatalf("TokenUsage(%q): %v", clientID, err)
	}
	if d := usageDiff(got, want); d != "" {
		t.Errorf("TokenUsage(%q, %v):\n\t%s", clientID, since.UTC(), d)
	}
}

func usageDiff(got, want []gatehouse.TokenUsage) string {
	show := func(us []gatehouse.TokenUsage) string {
		var b strings.Builder
		for _, u := range us {
			fmt.Fprintf(&b, " %s@%s=%d", u.ClientID, u.Hour.Format(time.RFC3339), u.Count)
		}
		return "[" + b.String() + " ]"
	}
	if len(got) != len(want) {
		return fmt.Sprintf("got %s, want %s", show(got), show(want))
	}
	for i := range got {
		if got[i].ClientID != want[i].ClientID || got[i].Count != want[i].Count {
			return fmt.Sprintf("got %s, want %s", show(got), show(want))
		}
		if d := timeDiff(fmt.Sprintf("[%d].Hour", i), got[i].Hour, want[i].Hour); len(d) > 0 {
			return strings.Join(d, "; ")
		}
	}
	return ""
}

var usageTests = []test{
	{"TokenUsage/AddsUpPerClientAndHour", func(t *testing.T, s gatehouse.Store) {
		root, admin := bootstrap(t, s)
		a, b := newClient(root.ID, "a"), newClient(root.ID, "b")
		mustCreate(t, s, a)
		mustCreate(t, s, b)
		east := time.FixedZone("X", 5*3600+1800) // a zone off the hour, so truncating in it would be wrong
		mustAddUsage(t, s,
			gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(0).In(east), Count: 2},
			gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(0).Add(59*time.Minute + 59*time.Second), Count: 3}, // the same hour
			gatehouse.TokenUsage{ClientID: b.ID, Hour: hourAt(0), Count: 1},
			gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(1), Count: 5},
		)
		// A second batch adds to the first; repeats within it add up too.
		mustAddUsage(t, s,
			gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(0), Count: 10},
			gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(0), Count: 100},
		)
		usageIs(t, s, a.ID, time.Time{},
			gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(0), Count: 115},
			gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(1), Count: 5})
		usageIs(t, s, b.ID, time.Time{}, gatehouse.TokenUsage{ClientID: b.ID, Hour: hourAt(0), Count: 1})
		usageIs(t, s, admin.ID, time.Time{})
	}},

	{"TokenUsage/SkipsUnknownClientsAndEmptyEntries", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		a := newClient(root.ID, "a")
		mustCreate(t, s, a)
		mustAddUsage(t, s,
			gatehouse.TokenUsage{ClientID: "ghost", Hour: hourAt(0), Count: 7},
			gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(0), Count: 1},
			gatehouse.TokenUsage{ClientID: "", Hour: hourAt(0), Count: 7},
			gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(1), Count: 0},
			gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(2), Count: -3},
			gatehouse.TokenUsage{ClientID: a.ID, Count: 9}, // no hour
			gatehouse.TokenUsage{ClientID: "ghost-2", Hour: hourAt(0), Count: 7},
		)
		usageIs(t, s, a.ID, time.Time{}, gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(0), Count: 1})
		usageIs(t, s, "ghost", time.Time{})
		usageIs(t, s, "never\x00stored", time.Time{})
		if err := s.AddTokenUsage(t.Context(), nil); err != nil {
			t.Errorf("AddTokenUsage(nil): %v", err)
		}
	}},

	{"TokenUsage/OrderedByHourFromSince", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		a := newClient(root.ID, "a")
		mustCreate(t, s, a)
		for _, n := range []int{5, -20, 3, 0, 4, -1} {
			mustAddUsage(t, s, gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(n), Count: int64(100 + n)})
		}
		want := func(ns ...int) []gatehouse.TokenUsage {
			var out []gatehouse.TokenUsage
			for _, n := range ns {
				out = append(out, gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(n), Count: int64(100 + n)})
			}
			return out
		}
		usageIs(t, s, a.ID, time.Time{}, want(-20, -1, 0, 3, 4, 5)...)
		usageIs(t, s, a.ID, hourAt(0), want(0, 3, 4, 5)...)
		// since is an instant: an hour that starts before it is left out.
		usageIs(t, s, a.ID, hourAt(3).Add(-time.Microsecond).In(time.FixedZone("Y", -7*3600)), want(3, 4, 5)...)
		usageIs(t, s, a.ID, hourAt(3).Add(time.Microsecond), want(4, 5)...)
		usageIs(t, s, a.ID, hourAt(6))
	}},

	{"TokenUsage/DeleteClientRemovesItsCounts", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		gone, kept := newClient(root.ID, "gone"), newClient(root.ID, "kept")
		mustCreate(t, s, gone)
		mustCreate(t, s, kept)
		mustAddUsage(t, s,
			gatehouse.TokenUsage{ClientID: gone.ID, Hour: hourAt(0), Count: 4},
			gatehouse.TokenUsage{ClientID: gone.ID, Hour: hourAt(1), Count: 2},
			gatehouse.TokenUsage{ClientID: kept.ID, Hour: hourAt(0), Count: 3})
		if err := s.DeleteClient(t.Context(), gone.ID, gatehouse.NoAudit); err != nil {
			t.Fatalf("DeleteClient: %v", err)
		}
		usageIs(t, s, gone.ID, time.Time{})
		usageIs(t, s, kept.ID, time.Time{}, gatehouse.TokenUsage{ClientID: kept.ID, Hour: hourAt(0), Count: 3})
		// A replica's late batch for the deleted client neither fails nor
		// brings its counts back.
		mustAddUsage(t, s,
			gatehouse.TokenUsage{ClientID: gone.ID, Hour: hourAt(1), Count: 1},
			gatehouse.TokenUsage{ClientID: kept.ID, Hour: hourAt(1), Count: 1})
		usageIs(t, s, gone.ID, time.Time{})
		usageIs(t, s, kept.ID, time.Time{},
			gatehouse.TokenUsage{ClientID: kept.ID, Hour: hourAt(0), Count: 3},
			gatehouse.TokenUsage{ClientID: kept.ID, Hour: hourAt(1), Count: 1})
	}},

	{"TokenUsage/PurgesHoursPastRetention", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		a, b := newClient(root.ID, "a"), newClient(root.ID, "b")
		mustCreate(t, s, a)
		mustCreate(t, s, b)
		keep := int(gatehouse.TokenUsageRetention / time.Hour)
		mustAddUsage(t, s,
			gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(0), Count: 1},
			gatehouse.TokenUsage{ClientID: b.ID, Hour: hourAt(0), Count: 1},
			gatehouse.TokenUsage{ClientID: b.ID, Hour: hourAt(1), Count: 1})
		// Exactly the retention later, the oldest hour is still kept.
		mustAddUsage(t, s, gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(keep), Count: 1})
		usageIs(t, s, b.ID, time.Time{},
			gatehouse.TokenUsage{ClientID: b.ID, Hour: hourAt(0), Count: 1},
			gatehouse.TokenUsage{ClientID: b.ID, Hour: hourAt(1), Count: 1})
		// An hour more, and it goes, whoever's it is; the next hour stays.
		mustAddUsage(t, s, gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(keep + 1), Count: 1})
		usageIs(t, s, a.ID, time.Time{},
			gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(keep), Count: 1},
			gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(keep + 1), Count: 1})
		usageIs(t, s, b.ID, time.Time{}, gatehouse.TokenUsage{ClientID: b.ID, Hour: hourAt(1), Count: 1})
		// A batch of old hours (a lagging replica) purges nothing newer.
		mustAddUsage(t, s, gatehouse.TokenUsage{ClientID: b.ID, Hour: hourAt(1), Count: 1})
		usageIs(t, s, a.ID, time.Time{},
			gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(keep), Count: 1},
			gatehouse.TokenUsage{ClientID: a.ID, Hour: hourAt(keep + 1), Count: 1})
	}},

	// One flush deletes at most gatehouse.TokenUsagePurgeBatch old counts,
	// whatever the backlog, and the next flushes take the rest.
	{"TokenUsage/PurgeIsBounded", func(t *testing.T, s gatehouse.Store) {
		_, admin := bootstrap(t, s)
		old := make([]gatehouse.TokenUsage, gatehouse.TokenUsagePurgeBatch+200)
		for i := range old {
			old[i] = gatehouse.TokenUsage{ClientID: admin.ID, Hour: hourAt(i), Count: 1}
		}
		mustAddUsage(t, s, old...)
		count := func() int {
			got, err := s.TokenUsage(t.Context(), admin.ID, time.Time{})
			if err != nil {
				t.Fatalf("TokenUsage: %v", err)
			}
			return len(got)
		}
		// The batch's own newest hour set the cutoff: all but the last two
		// days of it were past retention, and one batch's worth went.
		if n, want := count(), len(old)-gatehouse.TokenUsagePurgeBatch; n != want {
			t.Errorf("after the first flush: %d counts, want %d", n, want)
		}
		mustAddUsage(t, s, gatehouse.TokenUsage{ClientID: admin.ID, Hour: old[len(old)-1].Hour, Count: 1})
		if n, want := count(), int(gatehouse.TokenUsageRetention/time.Hour)+1; n != want {
			t.Errorf("after the second flush: %d counts, want %d", n, want)
		}
	}},

	{"TokenUsage/ConcurrentBatchesAllCount", func(t *testing.T, s gatehouse.Store) {
		// Replicas flush overlapping batches, in any order: every count
		// must land once, and the writers must not deadlock.
		root, _ := bootstrap(t, s)
		clients := []string{"c0", "c1", "c2", "c3"}
		for _, id := range clients {
			mustCreate(t, s, newClient(root.ID, id))
		}
		const writers, rounds = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*rounds)
		finishes(t, 60*time.Second, "concurrent AddTokenUsage", func() {
			for w := range writers {
				wg.Go(func() {
					for r := range rounds {
						var batch []gatehouse.TokenUsage
						for i := range len(clients) * 3 {
							// Each writer walks the keys in its own order.
							k := (i*(w+1) + r) % (len(clients) * 3)
							batch = append(batch, gatehouse.TokenUsage{ClientID: clients[k/3], Hour: hourAt(k % 3), Count: 1})
						}
						if err := s.AddTokenUsage(t.Context(), batch); err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
		})
		close(errs)
		for err := range errs {
			t.Errorf("AddTokenUsage: %v", err)
		}
		// Each batch holds every key once only if the walk is a
		// permutation; count what was sent rather than assume it.
		sent := map[string]map[int]int64{}
		for w := range writers {
			for r := range rounds {
				for i := range len(clients) * 3 {
					k := (i*(w+1) + r) % (len(clients) * 3)
					if sent[clients[k/3]] == nil {
						sent[clients[k/3]] = map[int]int64{}
					}
					sent[clients[k/3]][k%3]++
				}
			}
		}
		for _, id := range clients {
			var want []gatehouse.TokenUsage
			for h := range 3 {
				if n := sent[id][h]; n > 0 {
					want = append(want, gatehouse.TokenUsage{ClientID: id, Hour: hourAt(h), Count: n})
				}
			}
			usageIs(t, s, id, time.Time{}, want...)
		}
	}},

	{"TokenUsage/CanceledCallsFailWithoutEffect", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		a := newClient(root.ID, "a")
		mustCreate(t, s, a)
		canceled, cancel := context.WithCancel(t.Context())
		cancel()
		var err error
		finishes(t, 10*time.Second, "AddTokenUsage with a canceled context", func() {
			err = s.AddTokenUsage(canceled, []gatehouse.TokenUsage{{ClientID: a.ID, Hour: hourAt(0), Count: 1}})
		})
		if err == nil {
			t.Error("AddTokenUsage with a canceled context returned no error")
		}
		finishes(t, 10*time.Second, "TokenUsage with a canceled context", func() {
			_, err = s.TokenUsage(canceled, a.ID, time.Time{})
		})
		if err == nil {
			t.Error("TokenUsage with a canceled context returned no error")
		}
		usageIs(t, s, a.ID, time.Time{})
	}},
}
