package service

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// accessRecorder keeps each client's last access in memory and writes it to
// the store in batches, at most once per minInterval per client, so that
// issuing a token never waits for, or causes, a database write of its own.
// On the same ticks it writes the counts of issued tokens (see usage.go),
// for the same reason.
type accessRecorder struct {
	store       gatehouse.Store
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

	// usage counts the tokens issued and not yet written.
	usage *usageCounter

	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
}

func newAccessRecorder(store gatehouse.Store, log *slog.Logger, now func() time.Time, every, minInterval time.Duration) *accessRecorder {
	return &accessRecorder{
		store: store, log: log, now: now, every: every, minInterval: minInterval,
		pending: make(map[string]gatehouse.ClientAccess),
		written: make(map[string]time.Time),
		usage:   newUsageCounter(usageMaxClients),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

func (r *accessRecorder) note(clientID, ip string, at time.Time) {
	r.mu.Lock()
	r.pending[clientID] = gatehouse.ClientAccess{ClientID: clientID, At: at.UTC(), FromIP: ip}
	r.mu.Unlock()
}

// latest returns the unwritten access of a client, if any, so that reads
// show it before it reaches the store.
func (r *accessRecorder) latest(clientID string) (gatehouse.ClientAccess, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.pending[clientID]
	return a, ok
}

func (r *accessRecorder) start() {
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
				r.flush(ctx, false)
				r.usage.flush(ctx, r.store, r.log, r.now())
				cancel()
			}
		}
	}()
}

// stop ends the background writer and writes everything still pending:
// accesses and token counts.
func (r *accessRecorder) stop(ctx context.Context) error {
	started := true
	r.stopOnce.Do(func() {
		close(r.quit)
		select {
		case <-r.done:
		case <-ctx.Done():
			started = false
		}
	})
	if !started {
		return ctx.Err()
	}
	// Both are written even if one fails: they are independent.
	return errors.Join(r.flush(ctx, true), r.usage.flush(ctx, r.store, r.log, r.now()))
}

func (r *accessRecorder) flush(ctx context.Context, all bool) error {
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
