package sqlite

import (
	"context"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
)

// OpenBackend opens the store at path as Open does. A SQLite store is
// served by one process, which sees every change it makes, so the backend
// has no change feed, and its limiter is an in-memory one, configured by
// limits.
func OpenBackend(ctx context.Context, path string, limits ratelimit.Config) (gatehouse.Backend, error) {
	s, err := Open(ctx, path)
	if err != nil {
		return gatehouse.Backend{}, err
	}
	return gatehouse.Backend{Store: s, Limiter: ratelimit.NewMemory(limits), IntegrityCheck: s.IntegrityCheck}, nil
}
