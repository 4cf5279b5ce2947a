package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Memory is a Limiter that keeps its counts in the process: right for a
// single server, and as a first line in front of a shared limiter.
//
// Every call is O(1) per key. The keys are spread over shards, each with its
// own lock, so the token endpoint's Allowed calls on many cores do not queue
// behind one mutex. Each shard remembers at most its share of MaxKeys; when
// full, it forgets expired keys first and then the key that failed least
// recently. A key that is currently refused counts as recently used whenever
// it is asked about, so an attacker who keeps knocking on a blocked key keeps
// it remembered: to make it forgotten, a flood of distinct keys must fill a
// whole shard between two of its attempts.
//
// Keys are remembered as 64-bit hashes under a random per-limiter seed, so
// the memory a key takes does not depend on its length (client ids in failed
// logins are the attacker's choice) and collisions cannot be aimed at. A
// collision, of probability about n²/2⁶⁵ for n keys, would merely make two
// keys share one count.
type Memory struct {
	limit  int
	window time.Duration
	now    func() time.Time
	seed   maphash.Seed
	shards []shard
}

var _ gatehouse.Limiter = (*Memory)(nil)

type shard struct {
	mu      sync.Mutex
	entries map[uint64]*entry
	max     int
	// lru is the sentinel of a circular list ordered by last use: lru.lnext is
	// the most recently failed (or refused) key, lru.lprev the least.
	lru entry
	// Keep neighbouring shards' locks off one cache line.
	_ [64]byte
}

// entry is the count of one key: cur failures in the fixed window starting
// at start (Unix nanoseconds), prev in the window before.
type entry struct {
	hash         uint64
	start        int64
	prev, cur    int
	lprev, lnext *entry // the LRU list
}

const (
	maxShards = 32
	// minShardKeys keeps shards large enough that least-recently-failed
	// eviction within one shard is close to eviction across all keys.
	minShardKeys = 1024
)

// NewMemory returns an in-memory Limiter; see Config for the defaults.
func NewMemory(cfg Config) *Memory {
	cfg = cfg.WithDefaults()
	n := maxShards
	for n > 1 && cfg.MaxKeys/n < minShardKeys {
		n /= 2
	}
	m := &Memory{
		limit:  cfg.Limit,
		window: cfg.Window,
		now:    cfg.Now,
		seed:   maphash.MakeSeed(),
		shards: make([]shard, n),
	}
	for i := range m.shards {
		s := &m.shards[i]
		// Rounding down keeps the total at or under MaxKeys.
		s.max = cfg.MaxKeys / n
		s.entries = make(map[uint64]*entry)
		s.lru.lprev, s.lru.lnext = &s.lru, &s.lru
	}
	return m
}

func (m *Memory) locate(key string) (*shard, uint64) {
	h := maphash.String(m.seed, key)
	return &m.shards[h%uint64(len(m.shards))], h
}

// Allowed implements gatehouse.Limiter. It never fails.
func (m *Memory) Allowed(_ context.Context, keys ...string) (time.Duration, error) {
	now := m.now()
	var longest time.Duration
	for _, key := range keys {
		s, h := m.locate(key)
		longest = max(longest, s.retryAfter(h, now, m.limit, m.window))
	}
	return longest, nil
}

// Fail implements gatehouse.Limiter. It never fails.
func (m *Memory) Fail(_ context.Context, keys ...string) error {
	now := m.now()
	start := WindowStart(now, m.window).UnixNano()
	for _, key := range keys {
		s, h := m.locate(key)
		s.fail(h, now.UnixNano(), start, m.window)
	}
	return nil
}

// Len returns how many keys the limiter remembers, expired ones included
// until they are evicted. It never exceeds MaxKeys.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.entries)
		s.mu.Unlock()
	}
	return n
}

func (s *shard) retryAfter(h uint64, now time.Time, limit int, window time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[h]
	if e == nil {
		return 0
	}
	wait := RetryAfter(e.prev, e.cur, limit, time.Unix(0, e.start), now, window)
	if wait > 0 {
		s.touch(e)
	}
	return wait
}

func (s *shard) fail(h uint64, now, start int64, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[h]
	if e == nil {
		e = s.makeRoom(now, window)
		*e = entry{hash: h, start: start}
		s.entries[h] = e
	} else {
		s.unlink(e)
		switch w := int64(window); {
		case start <= e.start:
			// The same window; or the clock stepped back, and counting into
			// the newer window forgets nothing.
		case start == e.start+w:
			e.prev, e.cur, e.start = e.cur, 0, start
		default:
			e.prev, e.cur, e.start = 0, 0, start
		}
	}
	e.cur++
	s.pushFront(e)
}

// makeRoom drops expired keys from the old end of the list and, if the shard
// is still full, the least recently failed key. It returns an entry to fill:
// a dropped one when there is one, so a flood of new keys does not allocate.
//
// Because the list is ordered by last use, expired keys gather at its old
// end (a refused key that was asked about recently sits nearer the new end
// than its last failure alone would put it, so an expired key may linger
// behind it until it, too, reaches the old end). Each key is dropped once,
// so the loop is O(1) amortised.
func (s *shard) makeRoom(now int64, window time.Duration) *entry {
	var spare *entry
	for old := s.lru.lprev; old != &s.lru && now-old.start >= 2*int64(window); old = s.lru.lprev {
		spare = s.drop(old)
	}
	if len(s.entries) >= s.max {
		spare = s.drop(s.lru.lprev)
	}
	if spare == nil {
		spare = new(entry)
	}
	return spare
}

func (s *shard) drop(e *entry) *entry {
	s.unlink(e)
	delete(s.entries, e.hash)
	return e
}

func (s *shard) touch(e *entry) {
	s.unlink(e)
	s.pushFront(e)
}

func (s *shard) unlink(e *entry) {
	e.lprev.lnext = e.lnext
	e.lnext.lprev = e.lprev
	e.lprev, e.lnext = nil, nil
}

func (s *shard) pushFront(e *entry) {
	e.lprev, e.lnext = &s.lru, s.lru.lnext
	s.lru.lnext.lprev = e
	s.lru.lnext = e
}
