package replica

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// AccessRecorder keeps each client's last access in memory and writes it to
// the store in batches, at most once per MinInterval per client, so that
// issuing a token never waits for, or causes, a database write of its own.
// On the same ticks it writes the counts of issued tokens (see usage.go),
// for the same reason.
type AccessRecorder struct {
	store       AccessStore
	log         *slog.Logger
	now         func() time.Time
	every       time.Duration
	minInterval time.Duration

	mu      sync.Mutex
	pending map[string]gatehouse.ClientAccess
	written map[string]time.Time // when each client's access was last written

	// written is told which clients' accesses reached the store, so cached
	// copies of those clients, which lack them, can be dropped.
	onWritten func(ids []string)
	// onFlushed hears of the outcome of every write round.
	onFlushed func(error)

	// usage counts the tokens issued and not yet written.
	usage *usageCounter

	started  atomic.Bool
	stopOnce sync.Once
	stopErr  error
	quit     chan struct{}
	done     chan struct{}
}

// NewAccessRecorder returns a recorder; Start starts its writes.
func NewAccessRecorder(cfg AccessConfig) *AccessRecorder {
	return &AccessRecorder{
		store: cfg.Store, log: cfg.Log, now: cfg.Now, every: cfg.Every, minInterval: cfg.MinInterval,
		onWritten: cfg.Written, onFlushed: cfg.Flushed,
		pending: make(map[string]gatehouse.ClientAccess),
		written: make(map[string]time.Time),
		usage:   newUsageCounter(usageMaxClients),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// Note records an access of a client, in memory.
func (r *AccessRecorder) Note(clientID, ip string, at time.Time) {
	r.mu.Lock()
	r.pending[clientID] = gatehouse.ClientAccess{ClientID: clientID, At: at.UTC(), FromIP: ip}
	r.mu.Unlock()
}

// Latest returns the unwritten access of a client, if any, so that reads
// show it before it reaches the store.
func (r *AccessRecorder) Latest(clientID string) (gatehouse.ClientAccess, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.pending[clientID]
	return a, ok
}

// Start starts the background writes.
func (r *AccessRecorder) Start() {
	r.started.Store(true)
	go func() {
		defer close(r.done)
		t := time.NewTicker(r.every)
		defer t.Stop()
		for {
			select {
			case <-r.quit:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := errors.Join(r.flush(ctx, false), r.FlushUsage(ctx))
				cancel()
				r.flushed(err)
			}
		}
	}()
}

func (r *AccessRecorder) flushed(err error) {
	if r.onFlushed != nil {
		r.onFlushed(err)
	}
}

// Stop ends the background writes and writes everything still pending:
// accesses and token counts. The last write is attempted even when ctx
// ends first (a tick in flight is not waited for past ctx: the two writes
// are safe together), and what it could not write is reported as an
// *UnwrittenError. Later calls return the first call's result.
func (r *AccessRecorder) Stop(ctx context.Context) error {
	r.stopOnce.Do(func() {
		close(r.quit)
		if r.started.Load() {
			select {
			case <-r.done:
			case <-ctx.Done():
			}
		}
		// Both are written even if one fails: they are independent.
		err := errors.Join(r.flush(ctx, true), r.FlushUsage(ctx))
		if err != nil {
			r.mu.Lock()
			accesses := len(r.pending)
			r.mu.Unlock()
			err = &UnwrittenError{Accesses: accesses, TokenCounts: r.usage.pending(), Err: err}
		}
		r.stopErr = err
		r.flushed(err)
	})
	return r.stopErr
}

func (r *AccessRecorder) flush(ctx context.Context, all bool) error {
	now := r.now()
	r.mu.Lock()
	var batch []gatehouse.ClientAccess
	for id, a := range r.pending {
		if all || now.Sub(r.written[id]) >= r.minInterval {
			batch = append(batch, a)
			r.written[id] = now
		}
	}
	// Forget write times that no longer hold anything back, so memory
	// follows the clients active in the last interval, not all clients ever.
	for id, at := range r.written {
		if now.Sub(at) >= r.minInterval {
			if _, waiting := r.pending[id]; !waiting {
				delete(r.written, id)
			}
		}
	}
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := r.store.RecordAccess(ctx, batch)
	if err == nil && r.onWritten != nil {
		ids := make([]string, len(batch))
		for i, a := range batch {
			ids[i] = a.ClientID
		}
		r.onWritten(ids)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range batch {
		if err != nil {
			delete(r.written, a.ClientID) // retry at the next tick
			continue
		}
		// Entries stay pending until stored, so reads never miss an access
		// that is on its way to the store; a newer one noted meanwhile stays.
		if cur, ok := r.pending[a.ClientID]; ok && !cur.At.After(a.At) {
			delete(r.pending, a.ClientID)
		}
	}
	if err != nil {
		r.log.Warn("recording client accesses failed; will retry", "clients", len(batch), "err", err)
	}
	return err
}
