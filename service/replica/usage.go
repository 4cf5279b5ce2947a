package replica

import (
	"context"
	"hash/maphash"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
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
	// client with its map entry, so some 20 MB at most). A flush empties
	// them, so they normally hold only the clients issued a token since the
	// last one; the bound matters while the store refuses the flushes.
	// Past it the least recently active of a small sample is forgotten,
	// and with it that client's counts not yet stored.
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

// usageCounter counts issued tokens per client and hour. The token path
// only takes a sharded mutex: it never touches the store. What it counts
// are the deltas not yet in the store: the access recorder's ticker
// flushes them all, in one AddTokenUsage per tick (every
// Config.AccessFlushInterval, and at Close), which empties the counters;
// a flush the store refuses puts its counts back for the next tick. The
// store sums the flushes of every replica and keeps them across restarts,
// so the chart is the data center's, not the serving replica's.
//
// What is lost: counts not yet flushed when a process dies without Close
// (a few seconds' worth), those of a client evicted while the store
// refused flushes (see usageMaxClients), and any older than a day by the
// time a flush succeeds, which the chart would not show anyway.
type usageCounter struct {
	seed        maphash.Seed
	maxPerShard int
	shards      [usageShards]usageShard

	// turn is held by a flush from taking the deltas until the store has
	// answered, and by a reader from reading the store until it has read
	// the deltas. Without it a reader could miss counts on their way to
	// the store (taken from memory, not yet committed) or count them twice
	// (committed, not yet dropped from memory). A channel, so that a
	// waiting reader can give up when its context ends. The token path
	// never takes it.
	turn chan struct{}
}

func newUsageCounter(maxClients int) *usageCounter {
	u := &usageCounter{
		seed:        maphash.MakeSeed(),
		maxPerShard: max(1, maxClients/usageShards),
		turn:        make(chan struct{}, 1),
	}
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

func hourStart(hour int64) time.Time { return time.Unix(hour*3600, 0).UTC() }

func slotOf(hour int64) int64 { return (hour%UsageHours + UsageHours) % UsageHours }

func (u *usageCounter) shard(clientID string) *usageShard {
	return &u.shards[maphash.String(u.seed, clientID)%usageShards]
}

// note counts one token issued to clientID at the given time.
func (u *usageCounter) note(clientID string, at time.Time) {
	u.add(clientID, hourOf(at), 1)
}

// add adds n tokens to a client's count of an hour: one for a token issued,
// or the counts of a flush that failed, put back.
func (u *usageCounter) add(clientID string, h int64, n uint32) {
	sh := u.shard(clientID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if h > sh.swept {
		// Once an hour per shard, forget the clients idle for a day, so
		// memory follows the clients active in the last day even while
		// flushes fail.
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
	r.counts[slot] = uint32(min(uint64(r.counts[slot])+uint64(n), math.MaxUint32))
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

// counts returns the client's unflushed counts of the UsageHours hours
// ending with the one holding now, oldest first.
func (u *usageCounter) counts(clientID string, now time.Time) []HourCount {
	h := hourOf(now)
	out := make([]HourCount, UsageHours)
	sh := u.shard(clientID)
	sh.mu.Lock()
	r := sh.m[clientID]
	for i := range out {
		hour := h - UsageHours + 1 + int64(i)
		out[i].Hour = hourStart(hour)
		if r != nil && r.hours[slotOf(hour)] == hour {
			out[i].Count = int64(r.counts[slotOf(hour)])
		}
	}
	sh.mu.Unlock()
	return out
}

// take empties the counters and returns their counts of the last
// UsageHours hours before now, for the store. Each shard is locked only
// while it is emptied, so the token path waits for one shard's copy at
// most.
func (u *usageCounter) take(now time.Time) []gatehouse.TokenUsage {
	oldest := hourOf(now) - UsageHours + 1
	var out []gatehouse.TokenUsage
	for i := range u.shards {
		sh := &u.shards[i]
		sh.mu.Lock()
		for id, r := range sh.m {
			for slot, hour := range r.hours {
				if n := r.counts[slot]; n > 0 && hour >= oldest {
					out = append(out, gatehouse.TokenUsage{ClientID: id, Hour: hourStart(hour), Count: int64(n)})
				}
			}
			// Everything in the window was taken and the rest is stale:
			// an emptied client costs no memory until its next token.
			delete(sh.m, id)
		}
		sh.mu.Unlock()
	}
	return out
}

// pending is how many per-client hourly counts are not yet written.
func (u *usageCounter) pending() int {
	n := 0
	for i := range u.shards {
		sh := &u.shards[i]
		sh.mu.Lock()
		for _, r := range sh.m {
			for _, c := range r.counts {
				if c > 0 {
					n++
				}
			}
		}
		sh.mu.Unlock()
	}
	return n
}

// putBack returns the counts of a failed flush to the counters, adding
// them to whatever was counted meanwhile.
func (u *usageCounter) putBack(batch []gatehouse.TokenUsage) {
	for _, c := range batch {
		u.add(c.ClientID, hourOf(c.Hour), uint32(min(c.Count, math.MaxUint32)))
	}
}

// acquire takes the turn (see usageCounter.turn), or gives up when ctx ends.
func (u *usageCounter) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case u.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (u *usageCounter) release() { <-u.turn }

// flush writes every unflushed count to the store in one batch. On failure
// the counts go back into the counters, to be written with the next tick's.
func (u *usageCounter) flush(ctx context.Context, store AccessStore, log *slog.Logger, now time.Time) error {
	if err := u.acquire(ctx); err != nil {
		return err
	}
	defer u.release()
	batch := u.take(now)
	if len(batch) == 0 {
		return nil
	}
	if err := store.AddTokenUsage(ctx, batch); err != nil {
		u.putBack(batch)
		log.Warn("recording token counts failed; will retry", "counts", len(batch), "err", err)
		return err
	}
	return nil
}

// read returns a client's counts of the UsageHours hours ending with the
// one holding now, oldest first: the store's, which every replica's
// flushes have added to, plus this replica's not yet flushed. Another
// replica's unflushed counts show after its next flush.
func (u *usageCounter) read(ctx context.Context, store AccessStore, clientID string, now time.Time) ([]HourCount, error) {
	if err := u.acquire(ctx); err != nil {
		return nil, err
	}
	defer u.release()
	out := u.counts(clientID, now)
	stored, err := store.TokenUsage(ctx, clientID, out[0].Hour)
	if err != nil {
		return nil, err
	}
	for _, c := range stored {
		if i := hourOf(c.Hour) - hourOf(out[0].Hour); i >= 0 && i < UsageHours {
			out[i].Count += c.Count
		}
	}
	return out, nil
}

// CountIssue counts a token issued to a client, in memory.
func (r *AccessRecorder) CountIssue(clientID string, at time.Time) { r.usage.note(clientID, at) }

// Usage returns a client's token counts of the UsageHours hours ending with
// the one holding now, oldest first: the store's, which every replica's
// writes have added to, plus this replica's not yet written.
func (r *AccessRecorder) Usage(ctx context.Context, clientID string, now time.Time) ([]HourCount, error) {
	return r.usage.read(ctx, r.store, clientID, now)
}

// UnwrittenUsage is a client's token counts not yet written.
func (r *AccessRecorder) UnwrittenUsage(clientID string, now time.Time) []HourCount {
	return r.usage.counts(clientID, now)
}

// FlushUsage writes the token counts now, outside the ticks.
func (r *AccessRecorder) FlushUsage(ctx context.Context) error {
	return r.usage.flush(ctx, r.store, r.log, r.now())
}
