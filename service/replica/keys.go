package replica

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/token"
)

// PublicKeys is the key ring as verification sees it.
type PublicKeys interface {
	PublicKey(kid string) (token.PublicKey, bool)
}

// ReloadingKeys is the server's own token.KeySource: the key ring, reloaded
// from the store when a token names a kid the ring does not know yet (a key
// another replica just added). A flood of tokens with made-up kids causes at
// most one store read per cooldown, shared by every caller.
type ReloadingKeys struct {
	Keys PublicKeys
	// Reload loads the ring from the store; its error is what a caller
	// waiting on it is answered.
	Reload func(context.Context) error
	// Cooldown is how long a reload's outcome stands for later callers.
	Cooldown time.Duration
	// Timeout bounds a reload, which outlives the caller that started it:
	// others may be waiting on it.
	Timeout time.Duration

	mu       sync.Mutex
	last     time.Time
	lastErr  error
	inflight chan struct{}
}

// VerificationKey implements token.KeySource.
func (r *ReloadingKeys) VerificationKey(ctx context.Context, kid string) (token.PublicKey, error) {
	if k, ok := r.Keys.PublicKey(kid); ok {
		return k, nil
	}
	if err := r.reload(ctx); err != nil {
		return token.PublicKey{}, err
	}
	if k, ok := r.Keys.PublicKey(kid); ok {
		return k, nil
	}
	return token.PublicKey{}, token.ErrUnknownKey
}

// reload runs one shared reload, unless one finished within the cooldown.
func (r *ReloadingKeys) reload(ctx context.Context) error {
	r.mu.Lock()
	if ch := r.inflight; ch != nil {
		r.mu.Unlock()
		select {
		case <-ch:
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.lastErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if time.Since(r.last) < r.Cooldown {
		err := r.lastErr
		r.mu.Unlock()
		return err
	}
	ch := make(chan struct{})
	r.inflight = ch
	r.mu.Unlock()

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.Timeout)
	err := r.Reload(rctx)
	cancel()

	r.mu.Lock()
	r.inflight = nil
	r.last = time.Now()
	r.lastErr = err
	r.mu.Unlock()
	close(ch)
	return err
}
