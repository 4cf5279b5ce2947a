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

// openBackend opens PostgreSQL when Database is a postgres:// URL, else the
// embedded SQLite database in the data directory, each with its change
// feed and failure limiter; both apply their migrations.
func openBackend(ctx context.Context, cfg Config) (gatehouse.Backend, error) {
	limits := ratelimit.Config{Limit: cfg.AuthFailureLimit, Window: cfg.AuthFailureWindow, Now: cfg.Now}
	if isPostgres(cfg.Database) {
		return postgres.OpenBackend(ctx, cfg.Database, limits, postgres.OpenOptions{})
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return gatehouse.Backend{}, fmt.Errorf("data directory: %w", err)
	}
	return sqlite.OpenBackend(ctx, filepath.Join(cfg.DataDir, sqliteFile), limits)
}
