// Package flight lets many callers share one fetch, for the SDKs' token
// cache, discovery, JWKS and introspection alike.
package flight

import (
	"context"

	"golang.org/x/sync/singleflight"
)

// Group shares one run of a function among the callers of the same key
// that arrive while it runs. The zero value is ready to use.
type Group[T any] struct {
	g singleflight.Group
}

// Do runs fn unless a run for key is already in progress, and returns that
// run's result. fn runs in a goroutine of its own, so a caller whose ctx
// ends stops waiting without ending the run: the others still get its
// result, and fn must not use ctx (it belongs to whichever caller started
// the run). fn should store its result where later callers find it before
// returning; once it has returned, the next Do for key starts a new run.
func (g *Group[T]) Do(ctx context.Context, key string, fn func() (T, error)) (T, error) {
	ch := g.g.DoChan(key, func() (any, error) { return fn() })
	select {
	case r := <-ch:
		v, _ := r.Val.(T)
		return v, r.Err
	case <-ctx.Done():
		var zero T
		return zero, context.Cause(ctx)
	}
}
