package datacenter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/postgres"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/sqlite"
)

var errNotADatabaseURL = errors.New("--database must be a postgres:// URL, or empty for the embedded SQLite store in --data-dir")

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

// Migrate applies the store's schema migrations and closes it, for
// operators who migrate as a deployment step of its own (Run migrates too).
func Migrate(ctx context.Context, cfg Config) error {
	if cfg.Database != "" && !isPostgres(cfg.Database) {
		return errNotADatabaseURL
	}
	if isPostgres(cfg.Database) {
		st, err := postgres.OpenWithOptions(ctx, cfg.Database, postgres.OpenOptions{SkipMigrate: true})
		if err != nil {
			return err
		}
		defer st.Close()
		return st.Migrate(ctx)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, sqliteFile)) // opening migrates
	if err != nil {
		return err
	}
	return st.Close()
}
