package replica

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Invalidator is what the change feed updates in memory directly: the
// client cache.
type Invalidator interface {
	Invalidate(id string)
	Purge()
	PurgeTenants()
	SetTrusted(bool)
}

// Listener applies a store's change feed to what this replica keeps in
// memory: it drops cached clients and tenants, and has the revocations and
// the keys reloaded, which it leaves to the functions it is given (the
// service's, which know how to read and open them).
type Listener struct {
	Cache             Invalidator
	ReloadRevocations func(context.Context) error
	ReloadKeys        func(context.Context) error
	// Timeout bounds each reload.
	Timeout time.Duration
	Log     *slog.Logger
	// Applied, if set, is called after each change is applied (a reload it
	// asks for may still be running), so tests can wait for the feed
	// rather than sleep.
	Applied func(gatehouse.Change)

	once sync.Once
	// kick asks a reloader to reload; a buffered channel of one coalesces a
	// burst of notices into one reload.
	kickRevocations chan struct{}
	kickKeys        chan struct{}
	connected       atomic.Bool
}

func (l *Listener) init() {
	l.once.Do(func() {
		l.kickRevocations = make(chan struct{}, 1)
		l.kickKeys = make(chan struct{}, 1)
	})
}

// Connected reports whether the feed is connected now.
func (l *Listener) Connected() bool { return l.connected.Load() }

// Handle applies one change.
func (l *Listener) Handle(ch gatehouse.Change) {
	l.init()
	switch ch.Kind {
	case gatehouse.ChangeClient:
		l.Cache.Invalidate(ch.ID)
	case gatehouse.ChangeTenant:
		l.Cache.PurgeTenants()
	case gatehouse.ChangeRevocation:
		notify(l.kickRevocations)
	case gatehouse.ChangeKeys:
		notify(l.kickKeys)
	case gatehouse.ChangeResync:
		l.Cache.Purge()
		l.connected.Store(true)
		l.Cache.SetTrusted(true)
		notify(l.kickRevocations)
		notify(l.kickKeys)
		l.Log.Info("change feed connected")
	case gatehouse.ChangeLost:
		l.Cache.SetTrusted(false)
		l.Cache.Purge()
		l.connected.Store(false)
		l.Log.Warn("change feed lost; reading every client from the store until it is back")
	}
	if l.Applied != nil {
		l.Applied(ch)
	}
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run watches the feed and reloads what it says has changed, until ctx
// ends.
func (l *Listener) Run(ctx context.Context, feed gatehouse.ChangeFeed) {
	l.init()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		l.reloader(ctx, l.kickRevocations, l.ReloadRevocations, "reloading token revocations failed; will retry")
	}()
	go func() {
		defer wg.Done()
		l.reloader(ctx, l.kickKeys, l.ReloadKeys, "reloading signing keys failed; will retry")
	}()
	if err := feed.WatchChanges(ctx, l.Handle); err != nil && ctx.Err() == nil {
		l.Log.Error("change feed stopped", "err", err)
	}
	wg.Wait()
}

// reloader runs reload at every kick; a failure is retried a second later.
func (l *Listener) reloader(ctx context.Context, kick chan struct{}, reload func(context.Context) error, failed string) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
			rctx, cancel := context.WithTimeout(ctx, l.Timeout)
			if err := reload(rctx); err != nil && ctx.Err() == nil {
				l.Log.Warn(failed, "err", err)
				time.AfterFunc(time.Second, func() { notify(kick) })
			}
			cancel()
		}
	}
}
