package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/postgres/pgtest"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/storetest"
)

// limiterT0 lies 7 seconds into a one-minute window.
var limiterT0 = storetest.LimiterT0

func newTestLimiter(t *testing.T, s *Store, cfg ratelimit.Config) *Limiter {
	t.Helper()
	l, err := NewLimiter(t.Context(), s, cfg)
	if err != nil {
		t.Fatalf("NewLimiter: %v", err)
	}
	// Registered after the store's Close, so it runs before it.
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Limiter.Close: %v", err)
		}
	})
	return l
}

func mustFail(t *testing.T, l *Limiter, n int, keys ...string) {
	t.Helper()
	for range n {
		if err := l.Fail(t.Context(), keys...); err != nil {
			t.Fatalf("Fail(%q): %v", keys, err)
		}
	}
}

func waitOf(t *testing.T, l *Limiter, keys ...string) time.Duration {
	t.Helper()
	d, err := l.Allowed(t.Context(), keys...)
	if err != nil {
		t.Fatalf("Allowed: %v", err)
	}
	return d
}

// awaitRefused polls until l refuses keys, and returns how long that took.
func awaitRefused(t *testing.T, l *Limiter, within time.Duration, keys ...string) time.Duration {
	t.Helper()
	began := time.Now()
	for waitOf(t, l, keys...) == 0 {
		if time.Since(began) > within {
			t.Fatalf("%q still allowed %v later", keys, within)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(began)
}

func keyHash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// storedCount is the sum of key's stored counts over all windows.
func storedCount(t *testing.T, s *Store, key string) int {
	t.Helper()
	var n int
	err := s.pool.QueryRow(t.Context(),
		`SELECT COALESCE(sum(count), 0) FROM auth_failures WHERE key_hash = $1`, keyHash(key)).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLimiter(t *testing.T) {
	pgtest.DSN(t)
	storetest.RunLimiter(t, func(t *testing.T, cfg ratelimit.Config) gatehouse.Limiter {
		return newTestLimiter(t, openTest(t, pgtest.NewSchema(t)), cfg)
	})
}

// Two Limiters on two Stores of one schema are two replicas of a data
// center.
func TestSharedLimiter(t *testing.T) {
	pgtest.DSN(t)
	storetest.RunSharedLimiter(t, func(t *testing.T, cfg ratelimit.Config) (a, b gatehouse.Limiter) {
		dsn := pgtest.NewSchema(t)
		return newTestLimiter(t, openTest(t, dsn), cfg), newTestLimiter(t, openTest(t, dsn), cfg)
	})
}

// What replicas share is in the schema, as hashes of the keys: every
// failure counted once, nothing seen by limiters in other schemas, and a
// replica started after a block refuses at once.
func TestLimiterSharesThroughTheSchema(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	sa, sb := openTest(t, dsn), openTest(t, dsn)
	clk := testkit.NewClock(limiterT0)
	cfg := ratelimit.Config{Limit: 5, Window: time.Minute, Now: clk.Now}
	a, b := newTestLimiter(t, sa, cfg), newTestLimiter(t, sb, cfg)
	elsewhere := newTestLimiter(t, openTest(t, pgtest.NewSchema(t)), cfg)

	keys := []string{"cid:app|ip:192.0.2.1", "ip:192.0.2.1"}
	mustFail(t, a, 3, keys...)
	mustFail(t, b, 2, keys...)
	want := ratelimit.RetryAfter(0, 5, 5, ratelimit.WindowStart(limiterT0, time.Minute), limiterT0, time.Minute)
	awaitRefused(t, a, 5*time.Second, keys...)
	for i, key := range keys {
		if n := storedCount(t, sa, key); n != 5 {
			t.Errorf("key %d: %d failures stored, want 5", i, n)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if got := waitOf(t, elsewhere, keys...); got != 0 {
		t.Errorf("a limiter in another schema refuses for %v", got)
	}

	// Only hashes are stored: exactly the two keys' SHA-256 sums.
	rows, err := sa.pool.Query(t.Context(), `SELECT DISTINCT encode(key_hash, 'hex') FROM auth_failures ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, h)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	wantHashes := []string{hex.EncodeToString(keyHash(keys[0])), hex.EncodeToString(keyHash(keys[1]))}
	slices.Sort(wantHashes)
	if !slices.Equal(stored, wantHashes) {
		t.Errorf("stored key hashes %q, want %q", stored, wantHashes)
	}

	// A replica started now refuses at once: it loads the current blocks
	// when it connects, and never heard the announcement.
	c := newTestLimiter(t, openTest(t, dsn), cfg)
	if got := waitOf(t, c, keys...); got != want {
		t.Errorf("a replica started after the block refuses for %v, want %v", got, want)
	}
}

// Allowed answers from memory: it takes no connection from the pool, and
// answers the same once the pool is closed.
func TestLimiterAllowedNeverQueries(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	s, other := openTest(t, dsn), openTest(t, dsn)
	clk := testkit.NewClock(limiterT0)
	cfg := ratelimit.Config{Limit: 3, Window: time.Minute, Now: clk.Now}
	l, o := newTestLimiter(t, s, cfg), newTestLimiter(t, other, cfg)

	const (
		remote = "ip:203.0.113.9"  // blocked by the other replica
		local  = "ip:198.51.100.7" // blocked by l's own failures
		fresh  = "ip:192.0.2.55"
	)
	mustFail(t, o, 3, remote)
	awaitRefused(t, l, 5*time.Second, remote)
	mustFail(t, l, 3, local)

	check := func(when string) {
		t.Helper()
		const calls = 10_000
		began := time.Now()
		for i := range calls {
			if waitOf(t, l, remote) == 0 || waitOf(t, l, local) == 0 {
				t.Fatalf("%s: a blocked key was allowed", when)
			}
			if d := waitOf(t, l, fresh, "cid:c-"+strconv.Itoa(i)+"|"+fresh); d != 0 {
				t.Fatalf("%s: a fresh key refused for %v", when, d)
			}
		}
		took := time.Since(began)
		t.Logf("%s: %d rounds of Allowed took %v", when, calls, took.Round(time.Microsecond))
		if took > 5*time.Second {
			t.Errorf("%s: %d rounds of Allowed took %v", when, calls, took)
		}
	}
	acquired := s.pool.Stat().AcquireCount()
	check("database up")
	if n := s.pool.Stat().AcquireCount() - acquired; n != 0 {
		t.Fatalf("Allowed acquired %d pool connections, want none", n)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check("pool closed")
	began := time.Now()
	err := l.Fail(t.Context(), fresh)
	if err == nil {
		t.Fatal("Fail with the pool closed returned nil")
	}
	t.Logf("Fail with the pool closed: %v, after %v", err, time.Since(began).Round(time.Microsecond))
}

// Counts sit on window boundaries every replica computes alike, and the
// listeners purge those more than two windows old (the suite checks the
// sliding itself).
func TestLimiterPurgesOldWindows(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	sa, sb := openTest(t, dsn), openTest(t, dsn)
	clk := testkit.NewClock(limiterT0)
	const (
		limit  = 5
		window = time.Minute
	)
	cfg := ratelimit.Config{Limit: limit, Window: window, Now: clk.Now}
	a, b := newTestLimiter(t, sa, cfg), newTestLimiter(t, sb, cfg)
	const key = "ip:192.0.2.1"

	mustFail(t, a, limit, key)
	clk.Advance(window)
	mustFail(t, a, 1, key)
	clk.Advance(2 * window)
	mustFail(t, a, limit, key)
	awaitRefused(t, b, 5*time.Second, key)

	start := func(t time.Time) int64 { return ratelimit.WindowStart(t, window).UnixNano() }
	kept := []int64{start(limiterT0) + int64(window), start(clk.Now())}
	began := time.Now()
	for {
		rows, err := sa.pool.Query(t.Context(), `SELECT window_start FROM auth_failures ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for rows.Next() {
			var ws int64
			if err := rows.Scan(&ws); err != nil {
				t.Fatal(err)
			}
			if ws%int64(window) != 0 {
				t.Errorf("window_start %d is not aligned to the window", ws)
			}
			got = append(got, ws)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if slices.Equal(got, kept) {
			t.Logf("old counts purged %v after the clock moved on", time.Since(began).Round(time.Millisecond))
			break
		}
		if time.Since(began) > 10*time.Second {
			t.Fatalf("window_starts %v, want %v: the oldest window not purged", got, kept)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Concurrent failures on two replicas count exactly, and keys that two
// Fails pass in opposite orders do not deadlock.
func TestLimiterConcurrentFailCountsExactly(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	sa, sb := openTest(t, dsn), openTest(t, dsn)
	cfg := ratelimit.Config{Limit: 1000, Window: time.Minute, Now: (testkit.NewClock(limiterT0)).Now}
	replicas := []*Limiter{newTestLimiter(t, sa, cfg), newTestLimiter(t, sb, cfg)}

	const goroutines, each = 20, 10
	errs := make(chan error, goroutines*each)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			own := fmt.Sprint("own-", g)
			keys := []string{"shared-1", "shared-2", own}
			if g%2 == 1 {
				slices.Reverse(keys)
			}
			for i := range each {
				if err := replicas[(g+i)%2].Fail(t.Context(), keys...); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Fail: %v", err)
	}
	for _, key := range []string{"shared-1", "shared-2"} {
		if n := storedCount(t, sa, key); n != goroutines*each {
			t.Errorf("%s: %d failures stored, want %d", key, n, goroutines*each)
		}
	}
	for g := range goroutines {
		if n := storedCount(t, sa, fmt.Sprint("own-", g)); n != each {
			t.Errorf("own-%d: %d failures stored, want %d", g, n, each)
		}
	}
	// A key passed twice in one Fail counts twice, as in ratelimit.Memory.
	mustFail(t, replicas[0], 1, "twice", "twice")
	if n := storedCount(t, sa, "twice"); n != 2 {
		t.Errorf("a key passed twice: %d failures stored, want 2", n)
	}
}

// With the database down, Fail gives up within its context and still
// counts locally; once the database is back, the replicas share again.
func TestLimiterDatabaseDown(t *testing.T) {
	// A private cluster, since stopping the shared one would break the
	// tests of every other package running in parallel.
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	c := pgtest.StartCluster(t)
	clk := testkit.NewClock(limiterT0)
	cfg := ratelimit.Config{Limit: 3, Window: time.Minute, Now: clk.Now}
	a, b := newTestLimiter(t, openTest(t, c.DSN), cfg), newTestLimiter(t, openTest(t, c.DSN), cfg)
	const key = "ip:192.0.2.1"

	c.Stop(t, "fast")
	for i := range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		began := time.Now()
		err := a.Fail(ctx, key)
		took := time.Since(began)
		cancel()
		if !errors.Is(err, gatehouse.ErrUnavailable) {
			t.Errorf("Fail #%d with the database down: %v, want ErrUnavailable", i, err)
		}
		if limit := time.Second + cancelDeadlineDelay + 500*time.Millisecond; took > limit {
			t.Errorf("Fail #%d with a 1s deadline took %v, want at most %v", i, took, limit)
		}
		t.Logf("Fail #%d with the database down: %v after %v", i, err, took.Round(time.Millisecond))
	}
	if waitOf(t, a, key) == 0 {
		t.Error("the replica that saw 3 failures allows the key with the database down")
	}
	if d := waitOf(t, b, key); d != 0 {
		t.Errorf("a replica that saw no failure refuses for %v: nothing was shared", d)
	}

	c.Start(t)
	// The pool heals on its own; the listeners reconnect with backoff.
	const other = "ip:192.0.2.2"
	began := time.Now()
	for n := 0; n < 3; {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := b.Fail(ctx, other)
		cancel()
		if err == nil {
			n++
			continue
		}
		if time.Since(began) > 15*time.Second {
			t.Fatalf("Fail after the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("A hears blocks again %v after the restart",
		awaitRefused(t, a, 15*time.Second, other).Round(time.Millisecond))
}

// A database that stops answering without a word (a network partition)
// holds Fail no longer than the caller's deadline, or limiterFailTimeout
// without one; the local limit applies throughout, and Allowed never waits.
func TestLimiterFailBoundedDuringPartition(t *testing.T) {
	f, dsn := frozenSchema(t)
	clk := testkit.NewClock(limiterT0)
	l := newTestLimiter(t, openTest(t, dsn), ratelimit.Config{Limit: 2, Window: time.Minute, Now: clk.Now})
	const key = "ip:192.0.2.1"

	f.set(true)
	for i, deadline := range []time.Duration{time.Second, 0} {
		ctx, cancel := t.Context(), context.CancelFunc(func() {})
		bound := limiterFailTimeout
		if deadline > 0 {
			ctx, cancel = context.WithTimeout(ctx, deadline)
			bound = deadline
		}
		began := time.Now()
		err := l.Fail(ctx, key)
		took := time.Since(began)
		cancel()
		if !errors.Is(err, gatehouse.ErrUnavailable) {
			t.Errorf("Fail #%d during the partition: %v, want ErrUnavailable", i, err)
		}
		// The deadline, plus at most cancelDeadlineDelay for the cancel
		// request that cannot get through.
		if limit := bound + cancelDeadlineDelay + 500*time.Millisecond; took > limit {
			t.Errorf("Fail #%d (deadline %v) took %v, want at most %v", i, deadline, took, limit)
		}
		t.Logf("Fail #%d (deadline %v) during the partition gave up after %v", i, deadline, took.Round(time.Millisecond))
	}
	began := time.Now()
	if waitOf(t, l, key) == 0 {
		t.Error("the key is allowed after reaching the limit during the partition")
	}
	if d := waitOf(t, l, "ip:192.0.2.2"); d != 0 {
		t.Errorf("another key refused for %v", d)
	}
	if took := time.Since(began); took > 100*time.Millisecond {
		t.Errorf("Allowed took %v during the partition", took)
	}
	f.set(false)
}

// The blocked set stays within its bound, forgetting expired blocks first
// and then the block that ends soonest.
func TestBlockSetBound(t *testing.T) {
	h := func(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }
	b := newBlockSet(3)
	b.add(h("a"), 10, 0)
	b.add(h("b"), 20, 0)
	b.add(h("c"), 30, 0)
	b.add(h("d"), 40, 0) // full, nothing expired: a, which ends soonest, goes
	b.add(h("c"), 100, 0)
	b.add(h("c"), 50, 0) // a shorter block does not shorten a longer one
	b.add(h("e"), 60, 25)
	for key, want := range map[string]int64{"a": -1, "b": -1, "c": 100, "d": 40, "e": 60} {
		until, ok := b.get(h(key))
		if !ok {
			until = -1
		}
		if until != want {
			t.Errorf("%s blocked until %d, want %d (-1: forgotten)", key, until, want)
		}
	}
	if n := b.len(); n != 3 {
		t.Errorf("len = %d, want 3", n)
	}
	b.prune(60)
	if _, ok := b.get(h("c")); !ok || b.len() != 1 {
		t.Errorf("after prune at 60: len = %d, c held = %v; want only c", b.len(), ok)
	}
	b.prune(100)
	if b.len() != 0 {
		t.Errorf("after every block ended: len = %d", b.len())
	}

	// Many keys, over several shards.
	const maxKeys = 4096
	b = newBlockSet(maxKeys)
	for i := range 100_000 {
		b.add(h(strconv.Itoa(i)), int64(1000+i), 0)
	}
	if n := b.len(); n > maxKeys || n < maxKeys*9/10 {
		t.Fatalf("len = %d after 100000 blocks, want at most %d and close to it", n, maxKeys)
	}
	for i := range b.shards {
		if l := len(b.shards[i].byHash); l > b.shards[i].max || l != len(b.shards[i].ends) {
			t.Fatalf("shard %d holds %d (heap %d), its share is %d", i, l, len(b.shards[i].ends), b.shards[i].max)
		}
	}
	// The latest blocks, which end last, are the ones kept.
	if _, ok := b.get(h("99999")); !ok {
		t.Error("the block that ends last was forgotten")
	}
}

// Announcements are read strictly, and cannot block a key for longer than
// two windows.
func TestLimiterApply(t *testing.T) {
	clk := testkit.NewClock(limiterT0)
	cfg := ratelimit.Config{Limit: 3, Window: time.Minute, Now: clk.Now}.WithDefaults()
	l := &Limiter{limit: cfg.Limit, window: cfg.Window, now: cfg.Now,
		local: ratelimit.NewMemory(cfg), blocked: newBlockSet(cfg.MaxKeys)}
	notice := func(key string, until time.Time) string {
		return hex.EncodeToString(keyHash(key)) + ":" + strconv.FormatInt(until.UnixNano(), 10)
	}
	ctx := context.Background()

	l.apply(notice("k", limiterT0.Add(10*time.Second)))
	if d, _ := l.Allowed(ctx, "k"); d != 10*time.Second {
		t.Errorf("announced key refused for %v, want 10s", d)
	}
	l.apply(notice("far", limiterT0.Add(time.Hour)))
	if d, _ := l.Allowed(ctx, "far"); d != 2*time.Minute {
		t.Errorf("a block an hour long is taken as %v, want two windows", d)
	}
	for _, bad := range []string{
		"",
		"garbage",
		notice("past", limiterT0.Add(-time.Second)),
		hex.EncodeToString(keyHash("short"))[:10] + ":1",
		hex.EncodeToString(keyHash("nonhex"))[:62] + "zz:" + strconv.FormatInt(limiterT0.Add(time.Second).UnixNano(), 10),
		hex.EncodeToString(keyHash("nonnum")) + ":soon",
	} {
		l.apply(bad)
	}
	if n := l.blocked.len(); n != 2 {
		t.Errorf("%d keys blocked, want the 2 valid announcements", n)
	}
	clk.Advance(3 * time.Minute)
	if d, _ := l.Allowed(ctx, "k", "far"); d != 0 {
		t.Errorf("refused for %v after every block ended", d)
	}
}
