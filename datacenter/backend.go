package datacenter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/postgres"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/sqlite"
)

// sqliteFile is the embedded store's file inside the data directory.
const sqliteFile = "gatehouse.db"

// isPostgres reports whether a --database value names a PostgreSQL server.
func isPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// backend is the store a data center runs on with what comes with it.
type backend struct {
	store   gatehouse.Store
	limiter ratelimit.Limiter
	closers []func() error
}

func (b *backend) close() error {
	var first error
	for i := len(b.closers) - 1; i >= 0; i-- {
		if err := b.closers[i](); err != nil && first == nil {
			first = err
		}
	}
	b.closers = nil
	return first
}

// openBackend opens PostgreSQL when Database is a postgres:// URL, else the
// embedded SQLite database in the data directory; both apply their
// migrations.
func openBackend(ctx context.Context, cfg Config) (*backend, error) {
	limits := ratelimit.Config{Limit: cfg.AuthFailureLimit, Window: cfg.AuthFailureWindow, Now: cfg.Now}
	if isPostgres(cfg.Database) {
		st, err := postgres.Open(ctx, cfg.Database)
		if err != nil {
			return nil, err
		}
		// Replicas on PostgreSQL share their failure counts, so an attacker
		// gains nothing by spreading guesses over them.
		lim, err := postgres.NewLimiter(ctx, st, limits)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("shared rate limiter: %w", err)
		}
		return &backend{store: st, limiter: lim, closers: []func() error{st.Close, lim.Close}}, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, sqliteFile))
	if err != nil {
		return nil, err
	}
	return &backend{store: st, limiter: ratelimit.NewMemory(limits), closers: []func() error{st.Close}}, nil
}
