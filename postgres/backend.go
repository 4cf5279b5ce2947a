package postgres

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
)

// OpenBackend opens the store as OpenWithOptions does, with what replicas
// sharing one database need besides: the LISTEN/NOTIFY change feed (the
// store's WatchChanges) and a Limiter whose counts every replica shares,
// configured by limits. Closing the backend closes the limiter, then the
// store.
func OpenBackend(ctx context.Context, dsn string, limits ratelimit.Config, opts OpenOptions) (gatehouse.Backend, error) {
	s, err := OpenWithOptions(ctx, dsn, opts)
	if err != nil {
		return gatehouse.Backend{}, err
	}
	lim, err := NewLimiter(ctx, s, limits)
	if err != nil {
		s.Close()
		return gatehouse.Backend{}, fmt.Errorf("postgres: shared rate limiter: %w", err)
	}
	return gatehouse.Backend{Store: s, Changes: s, Limiter: lim, CloseFunc: lim.Close}, nil
}
