package service

import (
	"context"
	"hash/maphash"
	"math"
	"runtime"
	"sync"
	"time"
	"weak"
)

// HourCount is how many tokens one client was issued in one clock hour.
type HourCount struct {
	Hour  time.Time // the start of the hour, UTC
	Count int64
}

// UsageHours is how far back TokenUsage looks: the last day, by the hour.
const UsageHours = 24

const (
	usageShards = 16
	// usageMaxClients bounds the memory of the counters (about 400 bytes a
	// client with its map entry, so some 20 MB at most). Only clients
	// issued a token in the last day are kept; past the bound the least
	// recently active of a small sample is forgotten to make room.
	usageMaxClients = 50_000
	// usageEvictSample is how many entries an eviction looks at: an
	// approximation of least-recently-used that costs O(1), not O(clients),
	// on the token path.
	usageEvictSample = 8
)

// usageRing holds one client's counts of the last UsageHours hours. Slot
// h%UsageHours counts the hour numbered hours[slot] (Unix seconds / 3600);
// a slot still holding an older hour reads as zero, so nothing needs to
// rotate as time passes.
type usageRing struct {
	hours  [UsageHours]int64
	counts [UsageHours]uint32
	last   int64 // the latest hour noted
}

type usageShard struct {
	mu    sync.Mutex
	m     map[string]*usageRing
	swept int64 // the hour of the last sweep of stale entries
}

// usageCounter counts issued tokens per client and hour, in memory only:
// the token path takes a sharded mutex and never touches the store. The
// counts are not flushed to the store at all (yet): a chart of the last day
// needs no durability, and persisting them needs a table of its own. The
// price is that counts start from zero when the process starts, and that
// each replica counts the tokens it issued, so behind a load balancer the
// chart shows the replica that served the page.
type usageCounter struct {
	seed        maphash.Seed
	maxPerShard int
	shards      [usageShards]usageShard
}

func newUsageCounter(maxClients int) *usageCounter {
	u := &usageCounter{seed: maphash.MakeSeed(), maxPerShard: max(1, maxClients/usageShards)}
	for i := range u.shards {
		u.shards[i].m = make(map[string]*usageRing)
	}
	return u
}

// hourOf numbers clock hours: Unix seconds / 3600, rounded down.
func hourOf(t time.Time) int64 {
	s := t.Unix()
	h := s / 3600
	if s%3600 < 0 {
		h--
	}
	return h
}

func slotOf(hour int64) int64 { return (hour%UsageHours + UsageHours) % UsageHours }

func (u *usageCounter) shard(clientID string) *usageShard {
	return &u.shards[maphash.String(u.seed, clientID)%usageShards]
}

// note counts one token issued to clientID at the given time.
func (u *usageCounter) note(clientID string, at time.Time) {
	h := hourOf(at)
	sh := u.shard(clientID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if h > sh.swept {
		// Once an hour per shard, forget the clients idle for a day, so
		// memory follows the clients active in the last day.
		sh.sweep(h)
		sh.swept = h
	}
	r := sh.m[clientID]
	if r == nil {
		if len(sh.m) >= u.maxPerShard {
			sh.evictOne()
		}
		r = &usageRing{}
		sh.m[clientID] = r
	}
	slot := slotOf(h)
	switch {
	case r.hours[slot] == h:
	case r.hours[slot] < h:
		r.hours[slot], r.counts[slot] = h, 0
	default:
		return // a day or more older than what the slot holds: out of the window
	}
	if r.counts[slot] < math.MaxUint32 {
		r.counts[slot]++
	}
	r.last = max(r.last, h)
}

func (sh *usageShard) sweep(now int64) {
	for id, r := range sh.m {
		if r.last <= now-UsageHours {
			delete(sh.m, id)
		}
	}
}

// evictOne forgets the least recently active of a few entries; Go's map
// iteration order makes the sample arbitrary.
func (sh *usageShard) evictOne() {
	victim, oldest, n := "", int64(math.MaxInt64), 0
	for id, r := range sh.m {
		if r.last < oldest {
			victim, oldest = id, r.last
		}
		if n++; n == usageEvictSample {
			break
		}
	}
	delete(sh.m, victim)
}

// counts returns the client's counts of the UsageHours hours ending with the
// one holding now, oldest first.
func (u *usageCounter) counts(clientID string, now time.Time) []HourCount {
	h := hourOf(now)
	out := make([]HourCount, UsageHours)
	sh := u.shard(clientID)
	sh.mu.Lock()
	r := sh.m[clientID]
	for i := range out {
		hour := h - UsageHours + 1 + int64(i)
		out[i].Hour = time.Unix(hour*3600, 0).UTC()
		if r != nil && r.hours[slotOf(hour)] == hour {
			out[i].Count = int64(r.counts[slotOf(hour)])
		}
	}
	sh.mu.Unlock()
	return out
}

// usageCounters holds each Service's counter. It is kept beside the
// Service rather than in it so that this file stands alone; the key is a
// weak pointer and a cleanup removes the entry, so a Service that is
// dropped (tests make many) takes its counter with it.
var usageCounters sync.Map // weak.Pointer[Service] → *usageCounter

func (s *Service) usage() *usageCounter {
	key := weak.Make(s)
	if u, ok := usageCounters.Load(key); ok {
		return u.(*usageCounter)
	}
	u, loaded := usageCounters.LoadOrStore(key, newUsageCounter(usageMaxClients))
	if !loaded {
		runtime.AddCleanup(s, func(k weak.Pointer[Service]) { usageCounters.Delete(k) }, key)
	}
	return u.(*usageCounter)
}

// noteIssue counts a token issued to a client, in memory only: IssueToken
// calls it beside the access recorder, and like that it never waits for the
// store.
func (s *Service) noteIssue(clientID string, at time.Time) {
	s.usage().note(clientID, at)
}

// TokenUsage returns how many tokens this data center issued to a client
// in each of the last UsageHours hours, oldest first, ending with the
// current hour. The caller must be allowed to read the client (GetClient's
// rules: itself, or any client of its tenant for a tenant admin).
func (s *Service) TokenUsage(ctx context.Context, p *Principal, clientID string) ([]HourCount, error) {
	if _, err := s.GetClient(ctx, p, clientID); err != nil {
		return nil, err
	}
	return s.usage().counts(clientID, s.now()), nil
}
