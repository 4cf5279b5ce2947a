package service

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/token"
)

// reloadingKeys is the server's own token.KeySource: the key ring, reloaded
// from the store when a token names a kid the ring does not know yet (a key
// another replica just added). A flood of tokens with made-up kids causes at
// most one store read per cooldown, shared by every caller.
type reloadingKeys struct {
	s        *Service
	cooldown time.Duration

	mu       sync.Mutex
	last     time.Time
	lastErr  error
	inflight chan struct{}
}

func (r *reloadingKeys) VerificationKey(ctx context.Context, kid string) (token.PublicKey, error) {
	if k, ok := r.s.keys.PublicKey(kid); ok {
		return k, nil
	}
	if err := r.reload(ctx); err != nil {
		return token.PublicKey{}, err
	}
	if k, ok := r.s.keys.PublicKey(kid); ok {
		return k, nil
	}
	return token.PublicKey{}, token.ErrUnknownKey
}

// reload runs one shared reload, unless one finished within the cooldown.
func (r *reloadingKeys) reload(ctx context.Context) error {
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
	if time.Since(r.last) < r.cooldown {
		err := r.lastErr
		r.mu.Unlock()
		return err
	}
	ch := make(chan struct{})
	r.inflight = ch
	r.mu.Unlock()

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.s.storeTimeout)
	err := r.s.reloadKeys(rctx)
	cancel()
	if err != nil {
		// The store could not say whether the key exists: not the token's
		// fault, so not a 401.
		err = unavailable(errors.Join(errors.New("reload signing keys"), err))
	}

	r.mu.Lock()
	r.inflight = nil
	r.last = time.Now()
	r.lastErr = err
	r.mu.Unlock()
	close(ch)
	return err
}
