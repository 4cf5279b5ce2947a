package gatehouse

import (
	"context"
	"errors"
	"time"
)

// Limiter counts failed authentications per key, so that guessing secrets
// is slow for everyone who tries (see package ratelimit for the counting
// rule). Keys are opaque strings, for example "cid:<client id>|ip:<address>"
// and "ip:<address>"; implementations must be safe for concurrent use.
// Replicas sharing a store should share a limiter too, which is why a
// Backend provides one.
type Limiter interface {
	// Allowed returns 0 when every key is under its limit, and otherwise the
	// longest time until all of them are: the caller refuses the request and
	// sends that as Retry-After.
	Allowed(ctx context.Context, keys ...string) (retryAfter time.Duration, err error)
	// Fail counts one failure against each key.
	Fail(ctx context.Context, keys ...string) error
}

// Backend is what opening a storage backend yields: the store and the
// capabilities that go with it, explicitly, so that no caller has to find a
// capability by asserting a type (a decorated store would hide it).
type Backend struct {
	Store Store
	// Changes announces the changes other processes commit to Store; nil
	// when one process owns the store and there is nothing to hear of.
	Changes ChangeFeed
	// Limiter counts failed authentications, shared by every process of
	// the store when the backend can share it.
	Limiter Limiter
	// IntegrityCheck reads the whole store and reports whether its files
	// are damaged (ErrCorrupt); nil for a backend whose server checks its
	// own pages. It can take long on a large store: callers bound it
	// with ctx.
	IntegrityCheck func(ctx context.Context) error
	// CloseFunc releases what the backend holds besides Store (a shared
	// limiter's connection, say); nil when there is nothing. Set by the
	// backend's OpenBackend.
	CloseFunc func() error
}

// Close releases the backend's resources, then closes the store: the
// limiter and the feed may still use the store's connections until then.
func (b Backend) Close() error {
	var err error
	if b.CloseFunc != nil {
		err = b.CloseFunc()
	}
	if b.Store != nil {
		err = errors.Join(err, b.Store.Close())
	}
	return err
}
