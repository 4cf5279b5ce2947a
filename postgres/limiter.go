package postgres

import (
	"container/heap"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
)

// Timing of the limiter. The listener shares the change feed's timing
// (feedIdle, feedPingTimeout, feedRetryMin, feedRetryMax): the same reasons
// apply to its connection.
const (
	// limiterFailTimeout bounds the database work of one Fail, on top of
	// the caller's context, which for a request has no deadline of its own.
	// A failed authentication waits for it before it is answered, so an
	// unreachable database must not hold it for the pool's 5s connect
	// timeout; the failure is counted locally regardless.
	limiterFailTimeout = 2 * time.Second
	// limiterResyncTimeout bounds loading the current blocks when the
	// listener (re)connects.
	limiterResyncTimeout = 10 * time.Second
	// limiterPurgeTimeout bounds one purge of old counts, which runs in the
	// background and may be large after a flood of distinct keys.
	limiterPurgeTimeout = 30 * time.Second
)

// limitsChannel is the NOTIFY channel on which the limiters of the store in
// schema announce blocked keys. It is named after the schema, like the
// change feed's, so stores in different schemas of one database (the tests'
// schemas, say) do not block each other's keys.
func limitsChannel(schema string) string {
	sum := md5.Sum([]byte(schema))
	return "gatehouse_limits_" + hex.EncodeToString(sum[:])
}

// Limiter is a gatehouse.Limiter whose counts all replicas of a data center
// share through the store's database, so that an attacker who spreads
// guesses over the replicas behind a load balancer gets no more of them than
// one replica would allow.
//
// The token endpoint asks Allowed on every request, and most requests fail
// nothing, so Allowed never touches the database: it answers from memory.
// It refuses a key that this replica's own failures put over the limit (a
// ratelimit.Memory, which answers even before the database does, and when it
// cannot), or that a replica has announced as blocked. Fail counts into
// that memory and into the table auth_failures, one row per key and fixed
// window, and a replica whose Fail takes a key over the limit announces the
// block with NOTIFY; every replica's listener, on a connection of its own,
// adds it to its blocked set. So the database is written only when an
// authentication fails, and read by Allowed never.
//
// A block that a replica does not hear (its listener was reconnecting, or
// its blocked set was full) costs little: the listener loads the current
// blocks from the counts whenever it connects, and the next failure of the
// key anywhere finds the count over the limit and announces it again.
//
// Keys are stored and announced as their SHA-256, never as they are: they
// name client ids and source addresses. Windows are aligned as
// ratelimit.WindowStart aligns them, so the replicas' clocks, if roughly in
// step, agree on which row to count into; the window arithmetic is
// ratelimit's, so a key is refused as ratelimit.Memory would refuse it had
// it seen every replica's failures.
type Limiter struct {
	store   *Store
	limit   int
	window  time.Duration
	now     func() time.Time
	local   *ratelimit.Memory
	blocked *blockSet
	channel string

	// lastPurge is the start (Unix nanoseconds) of the window in which the
	// last purge began; purging is set while one runs.
	lastPurge atomic.Int64
	purging   atomic.Bool

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ gatehouse.Limiter = (*Limiter)(nil)

// NewLimiter returns a Limiter sharing its counts through s's database; see
// ratelimit.Config for cfg and its defaults (cfg.MaxKeys bounds both the
// local counts and the blocked set). Every replica of a data center should
// use the same Limit and Window.
//
// It connects its listener before it returns, and loads the keys that are
// blocked at that moment, so that a replica starting in the middle of an
// attack refuses at once; an unreachable database, or a schema without the
// auth_failures table (migration 00004), is an error. From then on, it
// reconnects by itself. Close stops it; it also stops listening when s is
// closed. The Limiter does not own s: close the Limiter first.
func NewLimiter(ctx context.Context, s *Store, cfg ratelimit.Config) (*Limiter, error) {
	cfg = cfg.WithDefaults()
	l := &Limiter{
		store:   s,
		limit:   cfg.Limit,
		window:  cfg.Window,
		now:     cfg.Now,
		local:   ratelimit.NewMemory(cfg),
		blocked: newBlockSet(cfg.MaxKeys),
	}
	// The first purge comes at the next window: purging is every replica's
	// job once a window, so a replica that has just started need not hurry.
	l.lastPurge.Store(ratelimit.WindowStart(l.now(), l.window).UnixNano())

	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	bctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Go(func() {
		// Stop with the store, as its change feed does: its pool is gone,
		// so Fail cannot count and nothing more will be announced.
		select {
		case <-s.closed:
			cancel()
		case <-bctx.Done():
		}
	})
	l.wg.Go(func() { l.run(bctx, conn) })
	return l, nil
}

// Close stops the listener and any purge in progress, and waits for them.
// Allowed and Fail keep working afterwards, from the counts in memory and
// while the store is open, but blocks announced by other replicas are no
// longer heard.
func (l *Limiter) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		l.wg.Wait()
	})
	return nil
}

// Allowed implements gatehouse.Limiter. It never queries the database and
// never fails.
func (l *Limiter) Allowed(ctx context.Context, keys ...string) (time.Duration, error) {
	wait, _ := l.local.Allowed(ctx, keys...)
	// Usually nothing is blocked: then neither hash nor lock.
	if l.blocked.len() == 0 {
		return wait, nil
	}
	now := l.now().UnixNano()
	for _, key := range keys {
		if until, ok := l.blocked.get(sha256.Sum256([]byte(key))); ok {
			wait = max(wait, time.Duration(until-now))
		}
	}
	return wait, nil
}

// failSQL counts one Fail in a single round trip: it adds $2[i] failures to
// key $1[i] in the window starting at $3 and returns, per key, the new count
// and that of the window before, $4.
//
// The keys come sorted, and are inserted in that order, so two Fails that
// share keys take their row locks in the same order and cannot deadlock.
// The previous window's row is read in the statement's snapshot, which is
// right: this statement changes only the current window's rows.
const failSQL = `
WITH cur AS (
    INSERT INTO auth_failures AS f (key_hash, window_start, count)
    SELECT k.key_hash, $3::bigint, k.n
    FROM unnest($1::bytea[], $2::int[]) AS k (key_hash, n)
    ORDER BY k.key_hash
    ON CONFLICT (key_hash, window_start) DO UPDATE SET count = f.count + EXCLUDED.count
    RETURNING f.key_hash, f.count
)
SELECT cur.key_hash, cur.count, COALESCE(p.count, 0)
FROM cur
LEFT JOIN auth_failures p ON p.key_hash = cur.key_hash AND p.window_start = $4::bigint`

// Fail implements gatehouse.Limiter. It counts the failure in memory first,
// so that the local limit holds whatever the database does, and then in the
// database, within ctx and at most limiterFailTimeout. If that takes a key
// over the limit, the key is blocked here and announced to every replica.
// The error, if any, says the shared count missed this failure; the local
// one did not.
func (l *Limiter) Fail(ctx context.Context, keys ...string) error {
	const op = "count failed authentication"
	_ = l.local.Fail(ctx, keys...)
	if len(keys) == 0 {
		return nil
	}
	now := l.now()
	start := ratelimit.WindowStart(now, l.window)

	// Distinct keys in byte order (see failSQL), each with how many times it
	// was passed: ratelimit.Memory counts a repeated key twice, and so does
	// the table.
	sums := make([][sha256.Size]byte, len(keys))
	for i, key := range keys {
		sums[i] = sha256.Sum256([]byte(key))
	}
	slices.SortFunc(sums, func(a, b [sha256.Size]byte) int { return strings.Compare(string(a[:]), string(b[:])) })
	hashes := make([][]byte, 0, len(sums))
	counts := make([]int32, 0, len(sums))
	for i := range sums {
		if i > 0 && sums[i] == sums[i-1] {
			counts[len(counts)-1]++
			continue
		}
		hashes = append(hashes, sums[i][:])
		counts = append(counts, 1)
	}

	ctx, cancel := context.WithTimeout(ctx, limiterFailTimeout)
	defer cancel()
	rows, err := l.store.pool.Query(ctx, failSQL, hashes, counts, start.UnixNano(), start.UnixNano()-int64(l.window))
	if err != nil {
		return wrap(ctx, err, op)
	}
	var notices []string
	for rows.Next() {
		var (
			hash      []byte
			cur, prev int
		)
		if err := rows.Scan(&hash, &cur, &prev); err != nil {
			rows.Close()
			return wrap(ctx, err, op)
		}
		wait := ratelimit.RetryAfter(prev, cur, l.limit, start, now, l.window)
		if wait <= 0 || len(hash) != sha256.Size {
			continue
		}
		until := now.Add(wait).UnixNano()
		l.blocked.add([sha256.Size]byte(hash), until, now.UnixNano())
		// Announced even if this replica had heard of the block already: the
		// announcement it heard may have come before another replica's
		// listener was connected.
		notices = append(notices, hex.EncodeToString(hash)+":"+strconv.FormatInt(until, 10))
	}
	if err := rows.Err(); err != nil {
		return wrap(ctx, err, op)
	}
	if len(notices) == 0 {
		return nil
	}
	// A second round trip, but only for the failure that crosses the limit:
	// once announced, the key is refused everywhere and fails no more.
	_, err = l.store.pool.Exec(ctx, `SELECT pg_notify($1, n) FROM unnest($2::text[]) AS n`, l.channel, notices)
	return wrap(ctx, err, op+": announce block")
}

// connect opens the listener's connection, listens, and then loads the keys
// blocked now. Listening first means that no block falls in between: one
// announced later is heard, one announced before is in the counts.
//
// The first call, from NewLimiter, also learns the channel; the schema of a
// DSN's search_path does not change, so later calls reuse it.
func (l *Limiter) connect(ctx context.Context) (*pgx.Conn, error) {
	const op = "auth failure listener"
	cfg := l.store.pool.Config().ConnConfig
	// As for the change feed (see Store.listen): the waits for a notice end
	// every feedIdle by design and must leave the connection intact.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, wrap(ctx, err, op)
	}
	ok := false
	defer func() {
		if !ok {
			closeConn(conn)
		}
	}()
	if l.channel == "" {
		var schema *string
		if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return nil, wrap(ctx, err, op)
		}
		if schema == nil {
			return nil, fmt.Errorf("postgres: %s: no schema of the search_path exists", op)
		}
		l.channel = limitsChannel(*schema)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		return nil, wrap(ctx, err, op)
	}
	rctx, cancel := context.WithTimeout(ctx, limiterResyncTimeout)
	defer cancel()
	if err := l.resync(rctx, conn); err != nil {
		return nil, wrap(rctx, err, op+": load blocked keys")
	}
	ok = true
	return conn, nil
}

// resync blocks every key whose stored counts are over the limit now. A
// key's windowed count is at most the sum of its two windows' counts, so
// the HAVING clause passes every key that may be blocked and, since only
// failures up to the limit and a few racing ones are ever counted, few
// others.
func (l *Limiter) resync(ctx context.Context, conn *pgx.Conn) error {
	now := l.now()
	start := ratelimit.WindowStart(now, l.window)
	cur := start.UnixNano()
	prev := cur - int64(l.window)
	rows, err := conn.Query(ctx, `
		SELECT key_hash,
		       COALESCE(sum(count) FILTER (WHERE window_start = $1), 0),
		       COALESCE(sum(count) FILTER (WHERE window_start = $2), 0)
		FROM auth_failures
		WHERE window_start IN ($1, $2)
		GROUP BY key_hash
		HAVING sum(count) >= $3
		LIMIT $4`, prev, cur, l.limit, l.blocked.capacity())
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			hash          []byte
			pcount, count int64
		)
		if err := rows.Scan(&hash, &pcount, &count); err != nil {
			return err
		}
		if len(hash) != sha256.Size {
			continue
		}
		if wait := ratelimit.RetryAfter(int(pcount), int(count), l.limit, start, now, l.window); wait > 0 {
			l.blocked.add([sha256.Size]byte(hash), now.Add(wait).UnixNano(), now.UnixNano())
		}
	}
	return rows.Err()
}

// run listens on conn until it fails, then reconnects, with backoff, until
// ctx ends.
func (l *Limiter) run(ctx context.Context, conn *pgx.Conn) {
	delay := feedRetryMin
	for {
		if conn != nil {
			l.listen(ctx, conn)
			conn = nil
			delay = feedRetryMin
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		l.housekeep(ctx)
		var err error
		if conn, err = l.connect(ctx); err != nil {
			conn = nil
			delay = min(2*delay, feedRetryMax)
		}
	}
}

// listen applies the blocks announced on conn until the connection fails or
// ctx ends, and closes it.
func (l *Limiter) listen(ctx context.Context, conn *pgx.Conn) {
	defer closeConn(conn)
	var kept time.Time
	for {
		// Once a feedIdle at most, even while notices stream in.
		if time.Since(kept) >= feedIdle {
			l.housekeep(ctx)
			kept = time.Now()
		}
		wctx, cancel := context.WithTimeout(ctx, feedIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			l.apply(n.Payload)
			continue
		case ctx.Err() != nil:
			return
		case !pgconn.Timeout(err):
			return // the connection is gone
		}
		// Quiet for feedIdle: make sure the server is still there, so that
		// a silent partition leads to a reconnect rather than deafness.
		pctx, cancel := context.WithTimeout(ctx, feedPingTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return
		}
	}
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

// apply blocks the key of a notice "<hex SHA-256>:<Unix nanoseconds until>".
// A notice it cannot read is ignored: the next failure of its key announces
// the block again. A block is never taken to last more than two windows,
// which no count can justify (see ratelimit.RetryAfter), so that a clock far
// ahead on one replica cannot lock a key out for long on the others.
func (l *Limiter) apply(payload string) {
	hexHash, untilText, ok := strings.Cut(payload, ":")
	if !ok || len(hexHash) != 2*sha256.Size {
		return
	}
	var hash [sha256.Size]byte
	if _, err := hex.Decode(hash[:], []byte(hexHash)); err != nil {
		return
	}
	until, err := strconv.ParseInt(untilText, 10, 64)
	if err != nil {
		return
	}
	now := l.now().UnixNano()
	until = min(until, now+2*int64(l.window))
	if until > now {
		l.blocked.add(hash, until, now)
	}
}

// housekeep forgets expired blocks, so that Allowed takes its fast path
// again once an attack is over, and starts a purge of old counts once a
// window. It runs on the listener's goroutine only.
func (l *Limiter) housekeep(ctx context.Context) {
	now := l.now()
	l.blocked.prune(now.UnixNano())

	start := ratelimit.WindowStart(now, l.window).UnixNano()
	if start <= l.lastPurge.Load() || !l.purging.CompareAndSwap(false, true) {
		return
	}
	l.lastPurge.Store(start)
	// On the pool, in the background: a large delete must not hold up the
	// notices. The counter of wg is above zero here (run is counted), so
	// this Add cannot race with Close's Wait.
	l.wg.Go(func() {
		defer l.purging.Store(false)
		pctx, cancel := context.WithTimeout(ctx, limiterPurgeTimeout)
		defer cancel()
		// Only the current and the previous window are ever read; one more
		// is kept so that a replica whose clock lags a little behind the
		// purging one still finds its previous window. A purge that fails
		// is retried next window; the rows do no harm meanwhile.
		_, _ = l.store.pool.Exec(pctx, `DELETE FROM auth_failures WHERE window_start < $1`, start-2*int64(l.window))
	})
}

// blockSet holds the keys announced as blocked, as SHA-256 sums, each with
// the Unix nanosecond at which it is allowed again. Like ratelimit.Memory it
// is sharded, each shard with its own lock and its share of the bound; a
// shard that is full forgets expired blocks first, then the block that ends
// soonest. A forgotten block costs the attacker's key one more attempt at
// most: the next failure finds the count over the limit and blocks again.
type blockSet struct {
	n      atomic.Int64 // blocks held, expired ones included until pruned
	seed   maphash.Seed
	shards []blockShard
}

type blockShard struct {
	mu     sync.Mutex
	byHash map[[sha256.Size]byte]*block
	ends   blockHeap // by until, soonest first
	max    int
	// Keep neighbouring shards' locks off one cache line.
	_ [64]byte
}

type block struct {
	hash  [sha256.Size]byte
	until int64
	index int // in ends
}

const (
	maxBlockShards = 32
	minBlockShard  = 1024
)

func newBlockSet(maxKeys int) *blockSet {
	n := maxBlockShards
	for n > 1 && maxKeys/n < minBlockShard {
		n /= 2
	}
	b := &blockSet{seed: maphash.MakeSeed(), shards: make([]blockShard, n)}
	for i := range b.shards {
		b.shards[i].byHash = make(map[[sha256.Size]byte]*block)
		b.shards[i].max = max(maxKeys/n, 1)
	}
	return b
}

// shard picks a shard by a keyed hash of the sum: the sums of keys are the
// attacker's to grind, and a seed they do not know keeps them from piling
// their blocks into one shard.
func (b *blockSet) shard(hash [sha256.Size]byte) *blockShard {
	return &b.shards[maphash.Bytes(b.seed, hash[:])%uint64(len(b.shards))]
}

func (b *blockSet) len() int64 { return b.n.Load() }

func (b *blockSet) capacity() int { return len(b.shards) * b.shards[0].max }

// get returns when hash is allowed again, if it is held.
func (b *blockSet) get(hash [sha256.Size]byte) (int64, bool) {
	s := b.shard(hash)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.byHash[hash]; e != nil {
		return e.until, true
	}
	return 0, false
}

// add blocks hash until the given instant, or extends its block to it.
func (b *blockSet) add(hash [sha256.Size]byte, until, now int64) {
	s := b.shard(hash)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.byHash[hash]; e != nil {
		if until > e.until {
			e.until = until
			heap.Fix(&s.ends, e.index)
		}
		return
	}
	b.pruneShard(s, now)
	if len(s.ends) >= s.max {
		b.drop(s)
	}
	e := &block{hash: hash, until: until}
	heap.Push(&s.ends, e)
	s.byHash[hash] = e
	b.n.Add(1)
}

// prune forgets every expired block.
func (b *blockSet) prune(now int64) {
	if b.n.Load() == 0 {
		return
	}
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		b.pruneShard(s, now)
		s.mu.Unlock()
	}
}

func (b *blockSet) pruneShard(s *blockShard, now int64) {
	for len(s.ends) > 0 && s.ends[0].until <= now {
		b.drop(s)
	}
}

// drop forgets the block of s that ends soonest.
func (b *blockSet) drop(s *blockShard) {
	e := heap.Pop(&s.ends).(*block)
	delete(s.byHash, e.hash)
	b.n.Add(-1)
}

// blockHeap is a min-heap of blocks by until, for container/heap.
type blockHeap []*block

func (h blockHeap) Len() int           { return len(h) }
func (h blockHeap) Less(i, j int) bool { return h[i].until < h[j].until }
func (h blockHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *blockHeap) Push(x any) {
	e := x.(*block)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *blockHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
