package ratelimit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// t0 lies 7 seconds into a one-minute window, as most real moments do.
var t0 = time.Date(2025, 3, 1, 12, 0, 7, 0, time.UTC)

const (
	testLimit  = 20
	testWindow = time.Minute
)

func newTest(t *testing.T, maxKeys int) (*Memory, *testkit.Clock) {
	t.Helper()
	c := testkit.NewClock(t0)
	return NewMemory(Config{Limit: testLimit, Window: testWindow, MaxKeys: maxKeys, Now: c.Now}), c
}

func fail(t *testing.T, m *Memory, n int, keys ...string) {
	t.Helper()
	for range n {
		if err := m.Fail(context.Background(), keys...); err != nil {
			t.Fatal(err)
		}
	}
}

func allowed(t *testing.T, m *Memory, keys ...string) time.Duration {
	t.Helper()
	d, err := m.Allowed(context.Background(), keys...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// peek returns the stored counts of key, and whether it is remembered.
func (m *Memory) peek(key string) (prev, cur int, ok bool) {
	s, h := m.locate(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[h]
	if e == nil {
		return 0, 0, false
	}
	return e.prev, e.cur, true
}

func TestLimit(t *testing.T) {
	tests := []struct {
		failures int
		refused  bool
	}{
		{0, false},
		{1, false},
		{testLimit - 1, false},
		// The limit is how many failures a key may have: the attempt after
		// the last allowed failure is refused.
		{testLimit, true},
		{testLimit + 1, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.failures, " failures"), func(t *testing.T) {
			m, _ := newTest(t, 0)
			fail(t, m, tt.failures, "k")
			d := allowed(t, m, "k")
			if !tt.refused {
				if d != 0 {
					t.Fatalf("refused for %v, want allowed", d)
				}
				return
			}
			if d <= 0 || d > testWindow {
				t.Fatalf("retryAfter = %v, want in (0, %v]", d, testWindow)
			}
		})
	}
}

func TestWindowSlides(t *testing.T) {
	m, c := newTest(t, 0)
	fail(t, m, testLimit, "k")
	d := allowed(t, m, "k")
	if want := 53*time.Second + 1; d != want {
		t.Fatalf("retryAfter = %v, want %v (to the end of the window)", d, want)
	}

	c.Advance(d - 1)
	if allowed(t, m, "k") == 0 {
		t.Fatal("allowed a nanosecond before retryAfter")
	}
	c.Advance(1)
	if d := allowed(t, m, "k"); d != 0 {
		t.Fatalf("still refused for %v after retryAfter", d)
	}

	// Sliding, not resetting: the old failures still weigh almost fully,
	// so one more failure closes the key again, for a 20th of the window.
	fail(t, m, 1, "k")
	d = allowed(t, m, "k")
	if d <= 0 || d > testWindow/testLimit {
		t.Fatalf("after one more failure retryAfter = %v, want in (0, %v]", d, testWindow/testLimit)
	}
	c.Advance(d)
	if d := allowed(t, m, "k"); d != 0 {
		t.Fatalf("still refused for %v", d)
	}

	// Two windows after the last failure, the key starts afresh.
	c.Advance(2 * testWindow)
	fail(t, m, testLimit-1, "k")
	if d := allowed(t, m, "k"); d != 0 {
		t.Fatalf("refused for %v with %d fresh failures", d, testLimit-1)
	}
}

func TestKeysAreIndependent(t *testing.T) {
	m, _ := newTest(t, 0)
	fail(t, m, testLimit, "cid:a|ip:192.0.2.1", "ip:192.0.2.1")
	if allowed(t, m, "cid:a|ip:192.0.2.1") == 0 || allowed(t, m, "ip:192.0.2.1") == 0 {
		t.Fatal("failed keys allowed")
	}
	for _, other := range []string{"cid:a|ip:192.0.2.2", "ip:192.0.2.2", "cid:b|ip:192.0.2.2", ""} {
		if d := allowed(t, m, other); d != 0 {
			t.Errorf("unrelated key %q refused for %v", other, d)
		}
	}
}

func TestLongestWait(t *testing.T) {
	m, c := newTest(t, 0)
	fail(t, m, testLimit, "a")
	c.Advance(10 * time.Second)
	fail(t, m, testLimit, "b")
	c.Advance(20 * time.Second) // a and b both still in the window that ends at 12:01

	a, b := allowed(t, m, "a"), allowed(t, m, "b")
	if a <= 0 || b <= 0 {
		t.Fatalf("a refused for %v, b for %v; want both refused", a, b)
	}
	tests := []struct {
		keys []string
		want time.Duration
	}{
		{[]string{"a", "b"}, max(a, b)},
		{[]string{"b", "a"}, max(a, b)},
		{[]string{"fresh", "a"}, a},
		{[]string{"fresh", "other"}, 0},
		{nil, 0},
	}
	for _, tt := range tests {
		if got := allowed(t, m, tt.keys...); got != tt.want {
			t.Errorf("Allowed(%q) = %v, want %v", tt.keys, got, tt.want)
		}
	}

	// b failed later, in a new window: b must wait longer.
	m, c = newTest(t, 0)
	fail(t, m, testLimit, "a")
	c.Advance(time.Minute)
	fail(t, m, testLimit, "b")
	if a, b := allowed(t, m, "a"), allowed(t, m, "b"); b <= a {
		t.Fatalf("b waits %v, a %v; want b longer", b, a)
	}
	if got, want := allowed(t, m, "a", "b"), allowed(t, m, "b"); got != want {
		t.Fatalf("Allowed(a, b) = %v, want b's %v", got, want)
	}
}

func TestMaxKeysBound(t *testing.T) {
	// 1 is the degenerate bound; 4096 spreads over two shards, which is how
	// the default, 100 000 over 32 shards, works too (see TestConfigDefaults).
	for _, maxKeys := range []int{1, 4096} {
		t.Run(fmt.Sprint(maxKeys), func(t *testing.T) {
			m, c := newTest(t, maxKeys)
			rng := rand.New(rand.NewPCG(1, 2))
			buf := make([]byte, 0, 64)
			const n = 100_000
			for i := range n {
				// Random client ids, all within one window, so that nothing
				// expires and only eviction keeps memory bounded.
				buf = append(buf[:0], "cid:"...)
				buf = strconv.AppendUint(buf, rng.Uint64(), 36)
				buf = append(buf, "|ip:203.0.113.7"...)
				if err := m.Fail(context.Background(), string(buf)); err != nil {
					t.Fatal(err)
				}
				if i%10_000 == 0 {
					c.Advance(time.Millisecond)
				}
			}
			if l := m.Len(); l > maxKeys || l < maxKeys*9/10 {
				t.Fatalf("Len = %d after %d distinct keys, want at most %d and close to it", l, n, maxKeys)
			}
			for i := range m.shards {
				if l := len(m.shards[i].entries); l > m.shards[i].max {
					t.Fatalf("shard %d holds %d keys, its share is %d", i, l, m.shards[i].max)
				}
			}
		})
	}
}

func TestEvictsExpiredFirst(t *testing.T) {
	m, c := newTest(t, 3)
	fail(t, m, 1, "a")
	fail(t, m, 1, "b")
	c.Advance(testWindow + 30*time.Second)
	fail(t, m, 1, "c")                     // the least recently failed live key
	c.Advance(testWindow - 30*time.Second) // a and b expire, c does not
	fail(t, m, 1, "new")
	for key, want := range map[string]bool{"a": false, "b": false, "c": true, "new": true} {
		if _, _, ok := m.peek(key); ok != want {
			t.Errorf("%s remembered = %v, want %v", key, ok, want)
		}
	}
	if l := m.Len(); l != 2 {
		t.Fatalf("Len = %d, want 2: both expired keys dropped", l)
	}
}

func TestEvictsLeastRecentlyFailed(t *testing.T) {
	m, c := newTest(t, 3)
	fail(t, m, 1, "a")
	fail(t, m, 1, "b")
	fail(t, m, 1, "c")
	c.Advance(time.Second)
	fail(t, m, 1, "a") // a is now more recent than b and c
	fail(t, m, 1, "d")
	for key, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if _, _, ok := m.peek(key); ok != want {
			t.Errorf("%s remembered = %v, want %v", key, ok, want)
		}
	}
}

// A blocked key that keeps being tried stays remembered however many other
// keys come and go, so an attacker cannot flush it with made-up keys while
// still hammering it.
func TestBlockedKeySurvivesFlood(t *testing.T) {
	m, _ := newTest(t, 100)
	fail(t, m, testLimit, "hot")
	for round := range 10 {
		for i := range 60 {
			fail(t, m, 1, fmt.Sprintf("flood-%d-%d", round, i))
		}
		if allowed(t, m, "hot") == 0 {
			t.Fatalf("round %d: the blocked key escaped its limit", round)
		}
	}
	if l := m.Len(); l > 100 {
		t.Fatalf("Len = %d, bound 100", l)
	}

	// The bound wins over memory, though: a key left alone while more
	// distinct keys than MaxKeys fail is forgotten.
	for i := range 100 {
		fail(t, m, 1, fmt.Sprint("more-", i))
	}
	if _, _, ok := m.peek("hot"); ok {
		t.Fatal("a key untouched through MaxKeys newer failures is still remembered")
	}
}

func TestConcurrentFailCountsExactly(t *testing.T) {
	m, _ := newTest(t, 0)
	const goroutines, each = 50, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			own := fmt.Sprint("own-", g)
			for range each {
				_ = m.Fail(context.Background(), "shared", own)
				_, _ = m.Allowed(context.Background(), "shared", own)
			}
		})
	}
	wg.Wait()
	if _, cur, _ := m.peek("shared"); cur != goroutines*each {
		t.Fatalf("shared key counted %d failures, want %d", cur, goroutines*each)
	}
	for g := range goroutines {
		if _, cur, _ := m.peek(fmt.Sprint("own-", g)); cur != each {
			t.Fatalf("own-%d counted %d failures, want %d", g, cur, each)
		}
	}
}

func TestClockSteppingBackForgetsNothing(t *testing.T) {
	m, c := newTest(t, 0)
	fail(t, m, testLimit-1, "k")
	c.Advance(-2 * testWindow)
	fail(t, m, 1, "k")
	if allowed(t, m, "k") == 0 {
		t.Fatal("failures before a clock step back were forgotten")
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Limit: -1, Window: -time.Second}.WithDefaults()
	if c.Limit != DefaultLimit || c.Window != DefaultWindow || c.MaxKeys != DefaultMaxKeys || c.Now == nil {
		t.Fatalf("WithDefaults = %+v", c)
	}
	m := NewMemory(Config{})
	if len(m.shards) != maxShards {
		t.Fatalf("default limiter has %d shards, want %d", len(m.shards), maxShards)
	}
	if total := len(m.shards) * m.shards[0].max; total > DefaultMaxKeys {
		t.Fatalf("shards hold up to %d keys, more than %d", total, DefaultMaxKeys)
	}
}

func BenchmarkAllowed(b *testing.B) {
	m := NewMemory(Config{})
	ctx := context.Background()
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprint("ip:10.0.", i>>8, ".", i&255)
		_ = m.Fail(ctx, keys[i])
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			_, _ = m.Allowed(ctx, "cid:client-1|"+keys[i%len(keys)], keys[i%len(keys)])
		}
	})
}

func BenchmarkFailDistinctKeys(b *testing.B) {
	m := NewMemory(Config{MaxKeys: 10_000})
	ctx := context.Background()
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("cid:%d|ip:10.0.0.1", i)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			_ = m.Fail(ctx, keys[i%len(keys)])
		}
	})
}
