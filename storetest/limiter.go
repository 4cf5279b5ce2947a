package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
)

// LimiterT0 is where the limiter suites' clocks start: 7 seconds into a
// one-minute window, as most real moments are.
var LimiterT0 = time.Date(2025, 3, 1, 12, 0, 7, 0, time.UTC)

// NewLimiter makes a fresh limiter with cfg, whose Now is the test's clock;
// it should register its own cleanup with t.Cleanup.
type NewLimiter func(t *testing.T, cfg ratelimit.Config) gatehouse.Limiter

// RunLimiter is the conformance suite of gatehouse.Limiter: the sliding
// window of package ratelimit, which every implementation must apply
// exactly, so that a key is refused alike whichever backend counts it.
func RunLimiter(t *testing.T, newLimiter NewLimiter) {
	t.Helper()
	for _, tc := range limiterTests {
		t.Run(tc.name, func(t *testing.T) {
			clk := testkit.NewClock(LimiterT0)
			tc.run(t, clk, func(limit int) gatehouse.Limiter {
				return newLimiter(t, ratelimit.Config{Limit: limit, Window: time.Minute, Now: clk.Now})
			})
		})
	}
}

// NewSharedLimiters makes two limiters with cfg that share their counts,
// as the replicas of one data center do.
type NewSharedLimiters func(t *testing.T, cfg ratelimit.Config) (a, b gatehouse.Limiter)

// RunSharedLimiter is the conformance suite of limiters that replicas
// share: what fails on either replica counts for both, and the replica that
// only hears of a block refuses exactly as long as the one that counted.
// A shared limiter should pass RunLimiter too.
func RunSharedLimiter(t *testing.T, newLimiters NewSharedLimiters) {
	t.Helper()
	for _, tc := range sharedLimiterTests {
		t.Run(tc.name, func(t *testing.T) {
			clk := testkit.NewClock(LimiterT0)
			a, b := newLimiters(t, ratelimit.Config{Limit: 5, Window: time.Minute, Now: clk.Now})
			tc.run(t, clk, a, b)
		})
	}
}

func mustFailN(t *testing.T, l gatehouse.Limiter, n int, keys ...string) {
	t.Helper()
	for range n {
		if err := l.Fail(t.Context(), keys...); err != nil {
			t.Fatalf("Fail(%q): %v", keys, err)
		}
	}
}

func waitOf(t *testing.T, l gatehouse.Limiter, keys ...string) time.Duration {
	t.Helper()
	d, err := l.Allowed(t.Context(), keys...)
	if err != nil {
		t.Fatalf("Allowed(%q): %v", keys, err)
	}
	return d
}

// awaitWait polls until l's wait for keys is want: a shared limiter may
// hear of another replica's block a moment later.
func awaitWait(t *testing.T, l gatehouse.Limiter, want time.Duration, keys ...string) time.Duration {
	t.Helper()
	began := time.Now()
	for {
		got := waitOf(t, l, keys...)
		if got == want {
			return time.Since(began)
		}
		if time.Since(began) > 5*time.Second {
			t.Fatalf("%q: wait %v, want %v", keys, got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

var limiterTests = []struct {
	name string
	run  func(t *testing.T, clk *testkit.Clock, newLimiter func(limit int) gatehouse.Limiter)
}{
	{"Limiter/RefusesAtTheLimit", func(t *testing.T, clk *testkit.Clock, newLimiter func(int) gatehouse.Limiter) {
		l := newLimiter(5)
		keys := []string{"cid:app|ip:192.0.2.1", "ip:192.0.2.1"}
		if d := waitOf(t, l); d != 0 {
			t.Errorf("Allowed() with no keys = %v, want 0", d)
		}
		mustFailN(t, l, 4, keys...)
		if d := waitOf(t, l, keys...); d != 0 {
			t.Fatalf("refused for %v after 4 of 5 failures", d)
		}
		mustFailN(t, l, 1, keys...)
		// To the end of the window the 5 failures fell in: 53s from 7s
		// into it, and a nanosecond, the count being refused at the limit.
		want := ratelimit.RetryAfter(0, 5, 5, ratelimit.WindowStart(LimiterT0, time.Minute), LimiterT0, time.Minute)
		if want != 53*time.Second+1 {
			t.Fatalf("test arithmetic: RetryAfter = %v", want)
		}
		if d := waitOf(t, l, keys...); d != want {
			t.Errorf("refused for %v after 5 of 5 failures, want %v", d, want)
		}
		for i, key := range keys {
			if d := waitOf(t, l, key); d != want {
				t.Errorf("key %d alone refused for %v, want %v", i, d, want)
			}
		}
		// Another address, even for the same client, is unaffected.
		if d := waitOf(t, l, "cid:app|ip:192.0.2.2", "ip:192.0.2.2"); d != 0 {
			t.Errorf("another address refused for %v", d)
		}
		// Refused with any other key, for the longest wait among them.
		if d := waitOf(t, l, "ip:192.0.2.2", keys[1]); d != want {
			t.Errorf("a fresh key with a blocked one: refused for %v, want %v", d, want)
		}
	}},

	{"Limiter/LongestWait", func(t *testing.T, clk *testkit.Clock, newLimiter func(int) gatehouse.Limiter) {
		l := newLimiter(3)
		mustFailN(t, l, 3, "early")
		clk.Advance(20 * time.Second)
		mustFailN(t, l, 3, "late")
		early, late := waitOf(t, l, "early"), waitOf(t, l, "late")
		if early == 0 || late == 0 {
			t.Fatalf("waits %v and %v, want both refused", early, late)
		}
		if got, want := waitOf(t, l, "early", "late"), max(early, late); got != want {
			t.Errorf("Allowed(early, late) = %v, want the longer %v", got, want)
		}
	}},

	{"Limiter/WindowSlides", func(t *testing.T, clk *testkit.Clock, newLimiter func(int) gatehouse.Limiter) {
		const limit, window = 5, time.Minute
		l := newLimiter(limit)
		const key = "ip:192.0.2.1"
		mustFailN(t, l, limit, key)
		d := waitOf(t, l, key)
		if want := 53*time.Second + 1; d != want {
			t.Fatalf("wait %v, want %v (to the end of the window)", d, want)
		}
		clk.Advance(d - 1)
		if waitOf(t, l, key) == 0 {
			t.Fatal("allowed a nanosecond before the wait ended")
		}
		clk.Advance(1)
		if d := waitOf(t, l, key); d != 0 {
			t.Fatalf("still refused for %v after the wait", d)
		}
		// Sliding, not resetting: the previous window's failures still
		// weigh almost fully, so one more closes the key again, for a
		// fifth of the window.
		mustFailN(t, l, 1, key)
		now := clk.Now()
		want := ratelimit.RetryAfter(limit, 1, limit, ratelimit.WindowStart(now, window), now, window)
		if want <= 0 || want > window/limit {
			t.Fatalf("test arithmetic: RetryAfter = %v", want)
		}
		if d := waitOf(t, l, key); d != want {
			t.Errorf("after one more failure: wait %v, want %v", d, want)
		}
		// Two windows after the last failure, the key starts afresh.
		clk.Advance(2 * window)
		if d := waitOf(t, l, key); d != 0 {
			t.Fatalf("refused for %v two windows later", d)
		}
		mustFailN(t, l, limit-1, key)
		if d := waitOf(t, l, key); d != 0 {
			t.Fatalf("refused for %v after %d fresh failures", d, limit-1)
		}
		mustFailN(t, l, 1, key)
		if waitOf(t, l, key) == 0 {
			t.Fatalf("allowed after %d fresh failures", limit)
		}
	}},

	{"Limiter/KeyTwiceCountsTwice", func(t *testing.T, clk *testkit.Clock, newLimiter func(int) gatehouse.Limiter) {
		l := newLimiter(2)
		mustFailN(t, l, 1, "twice", "twice")
		if waitOf(t, l, "twice") == 0 {
			t.Error("a key passed twice to one Fail counted once")
		}
	}},

	{"Limiter/ConcurrentFailsCountExactly", func(t *testing.T, clk *testkit.Clock, newLimiter func(int) gatehouse.Limiter) {
		const goroutines, each = 9, 11 // 99 failures: one short of the limit
		l := newLimiter(goroutines*each + 1)
		var wg sync.WaitGroup
		errs := make(chan error, goroutines*each)
		for g := range goroutines {
			wg.Go(func() {
				own := fmt.Sprint("own-", g)
				for range each {
					if err := l.Fail(t.Context(), "shared", own); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Fail: %v", err)
		}
		if d := waitOf(t, l, "shared"); d != 0 {
			t.Fatalf("refused for %v after %d of %d failures: a concurrent Fail counted twice", d, goroutines*each, goroutines*each+1)
		}
		mustFailN(t, l, 1, "shared")
		if waitOf(t, l, "shared") == 0 {
			t.Fatalf("allowed after %d failures: a concurrent Fail was lost", goroutines*each+1)
		}
		if d := waitOf(t, l, "own-0"); d != 0 {
			t.Errorf("a key with %d failures refused for %v", each, d)
		}
	}},
}

var sharedLimiterTests = []struct {
	name string
	run  func(t *testing.T, clk *testkit.Clock, a, b gatehouse.Limiter)
}{
	{"SharedLimiter/FailuresCountOnEveryReplica", func(t *testing.T, clk *testkit.Clock, a, b gatehouse.Limiter) {
		keys := []string{"cid:app|ip:192.0.2.1", "ip:192.0.2.1"}
		mustFailN(t, a, 3, keys...)
		mustFailN(t, b, 1, keys...)
		if wa, wb := waitOf(t, a, keys...), waitOf(t, b, keys...); wa != 0 || wb != 0 {
			t.Fatalf("refused after 4 of 5 failures: %v on A, %v on B", wa, wb)
		}
		mustFailN(t, b, 1, keys...)
		want := ratelimit.RetryAfter(0, 5, 5, ratelimit.WindowStart(LimiterT0, time.Minute), LimiterT0, time.Minute)
		if got := waitOf(t, b, keys...); got != want {
			t.Fatalf("B, whose Fail crossed the limit, waits %v, want %v", got, want)
		}
		delay := awaitWait(t, a, want, keys...)
		t.Logf("a block counted on one replica reached the other after %v", delay.Round(time.Microsecond))
		for i, key := range keys {
			// Each key alone, on the replica that saw only 3 of its failures.
			if got := waitOf(t, a, key); got != want {
				t.Errorf("A refuses key %d for %v, want %v", i, got, want)
			}
		}
		for _, l := range []gatehouse.Limiter{a, b} {
			if got := waitOf(t, l, "cid:app|ip:192.0.2.2", "ip:192.0.2.2"); got != 0 {
				t.Errorf("another address refused for %v", got)
			}
		}
	}},

	{"SharedLimiter/WindowSlidesOnEveryReplica", func(t *testing.T, clk *testkit.Clock, a, b gatehouse.Limiter) {
		const limit, window = 5, time.Minute
		const key = "ip:192.0.2.1"
		mustFailN(t, a, limit, key)
		awaitWait(t, b, 53*time.Second+1, key)
		d := waitOf(t, b, key)
		clk.Advance(d - 1)
		if waitOf(t, b, key) == 0 {
			t.Fatal("B allowed a nanosecond before the wait ended")
		}
		clk.Advance(1)
		if d := waitOf(t, b, key); d != 0 {
			t.Fatalf("B still refuses for %v after the wait", d)
		}
		// One more failure on A closes the key again on B, for as long as
		// the sliding window says.
		mustFailN(t, a, 1, key)
		now := clk.Now()
		want := ratelimit.RetryAfter(limit, 1, limit, ratelimit.WindowStart(now, window), now, window)
		awaitWait(t, b, want, key)
		// Two windows later, B starts afresh with A's new failures.
		clk.Advance(2 * window)
		if d := waitOf(t, b, key); d != 0 {
			t.Fatalf("B refuses for %v two windows later", d)
		}
		mustFailN(t, a, limit, key)
		wa := waitOf(t, a, key)
		if wa == 0 {
			t.Fatalf("A allows the key after %d fresh failures", limit)
		}
		awaitWait(t, b, wa, key)
	}},
}
