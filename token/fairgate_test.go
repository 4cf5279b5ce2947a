package token

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// queue makes key wait at g, and reports on granted when its turn comes.
// It returns once the waiter is queued, so that the order of calls is the
// order of arrival.
func queue(t *testing.T, g *fairGate, key string, granted chan<- string) {
	t.Helper()
	_, before := g.state()
	go func() {
		if err := g.acquire(context.Background(), key); err != nil {
			t.Error(err)
			return
		}
		granted <- key
	}()
	testkit.Eventually(t, key+" queued", 5*time.Second, func() bool {
		_, n := g.state()
		return n == before+1
	})
}

// A client with a backlog gets one slot in turn like a client with one
// request: a polite client that arrives behind sixty-four greedy requests
// is served after at most one of them, then the greedy client has the
// slots to itself again.
func TestFairGateServesClientsInTurn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		arrive  []string // in order, behind one slot already taken
		granted []string // the order the slot is handed on
	}{
		{"one client: first come, first served", []string{"a", "a", "a"}, []string{"a", "a", "a"}},
		{"a polite client behind a greedy one", []string{"greedy", "greedy", "greedy", "greedy", "polite"},
			[]string{"greedy", "polite", "greedy", "greedy", "greedy"}},
		{"three clients round robin", []string{"a", "a", "a", "b", "b", "c"},
			[]string{"a", "b", "c", "a", "b", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFairGate(1)
			if err := g.acquire(context.Background(), "holder"); err != nil {
				t.Fatal(err)
			}
			granted := make(chan string)
			for _, key := range tc.arrive {
				queue(t, g, key, granted)
			}
			var got []string
			for range tc.arrive {
				g.release()
				got = append(got, <-granted)
			}
			if !slices.Equal(got, tc.granted) {
				t.Errorf("granted in the order %v, want %v", got, tc.granted)
			}
			g.release()
			if free, waiting := g.state(); free != 1 || waiting != 0 {
				t.Errorf("at the end: %d free, %d waiting; want 1 free", free, waiting)
			}
		})
	}
}

// Waiters that give up leave the queue at once, and a slot handed to a
// waiter just as it gives up is passed on, not lost: after any mix of
// requests that finish and requests that are canceled, every slot is free
// again and nothing waits.
func TestFairGateCancelLosesNoSlot(t *testing.T) {
	const slots = 2
	g := newFairGate(slots)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(300))*time.Microsecond)
			defer cancel()
			if err := g.acquire(ctx, fmt.Sprint("client-", i%7)); err != nil {
				return
			}
			time.Sleep(time.Duration(rand.IntN(100)) * time.Microsecond)
			g.release()
		})
	}
	wg.Wait()
	if free, waiting := g.state(); free != slots || waiting != 0 {
		t.Fatalf("after the storm: %d of %d slots free, %d waiting", free, slots, waiting)
	}
	if len(g.queues) != 0 || len(g.turns) != 0 {
		t.Fatalf("clients left behind: %v, turns %v", g.queues, g.turns)
	}
}

// The behaviour the gate exists for, on real RS256 keys: one client
// requesting tokens at concurrency 64 does not make a polite client, one
// request at a time, wait behind its backlog. In a first-come queue the
// polite client waits for about 32 pair signatures on two CPUs, some 30×
// its idle median; in turns it waits for about one, measured at 3.7–3.9×
// on two CPUs. The bound asserted is 8×, which only a queue that serves
// backlogs first can break; the goal of 3× is not yet met (see the issue).
func TestFairShareUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("signs for a few seconds")
	}
	now := time.Now()
	ring, _ := ringOf(t, now, RS256)
	is := &Issuer{URL: "https://dc.example/bc", Audience: "dc.example", TTL: time.Hour, Keys: ring}
	polite := gatehouse.Client{ID: "polite", TenantID: "t"}
	greedy := gatehouse.Client{ID: "greedy", TenantID: "t"}
	median := func(n int) time.Duration {
		var took []time.Duration
		for range n {
			start := time.Now()
			if _, err := is.Issue(context.Background(), polite, time.Now()); err != nil {
				t.Fatal(err)
			}
			took = append(took, time.Since(start))
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		return took[len(took)/2]
	}
	median(10) // warm up
	idle := median(60)

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := is.Issue(ctx, greedy, time.Now()); err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Let the greedy client's backlog build up first.
	testkit.Eventually(t, "a greedy backlog", 10*time.Second, func() bool {
		_, waiting := is.gate().state()
		return waiting > 32
	})
	loaded := median(60)
	stop()
	wg.Wait()

	t.Logf("polite client's median: %s idle, %s beside a greedy client at concurrency 64 (%.1f×)",
		idle, loaded, float64(loaded)/float64(idle))
	if loaded > 8*idle {
		t.Errorf("the polite client's median rose from %s to %s: more than 8×", idle, loaded)
	}
}
