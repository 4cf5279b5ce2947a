package datacenter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/keycrypt"
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

// IntegrityCheckBound is how long the start-up integrity check of the
// embedded store may take. Past it the server starts anyway and says so:
// a slow disk must not keep a data center down, and SQLite still refuses
// to read a damaged page when a request meets one. quick_check reads the
// file at close to disk speed, so the bound covers stores of several GiB.
const IntegrityCheckBound = 30 * time.Second

// openBackend opens PostgreSQL when Database is a postgres:// URL, else the
// embedded SQLite database in the data directory, each with its change
// feed and failure limiter; both apply their migrations. It refuses a store
// that is damaged, and an empty one where the data directory shows that a
// data center has run here before (see AllowNewStore).
func openBackend(ctx context.Context, cfg Config) (gatehouse.Backend, error) {
	limits := ratelimit.Config{Limit: cfg.AuthFailureLimit, Window: cfg.AuthFailureWindow, Now: cfg.Now}
	if isPostgres(cfg.Database) {
		b, err := postgres.OpenBackend(ctx, cfg.Database, limits, postgres.OpenOptions{})
		if err != nil {
			return b, err
		}
		// A PostgreSQL database is created by its operator, so an empty one
		// is only known to be empty once it is open.
		keys, err := b.Store.SigningKeys(ctx)
		if err == nil && len(keys) == 0 {
			err = refuseNewStore(cfg, "the database holds no data center")
		}
		if err != nil {
			return gatehouse.Backend{}, errors.Join(err, b.Close())
		}
		return b, nil
	}
	path := filepath.Join(cfg.DataDir, sqliteFile)
	// Checked before opening, which would create the file: a refused start
	// leaves the data directory as it found it, ready for a restore.
	if empty, err := emptySQLite(path); err != nil {
		return gatehouse.Backend{}, err
	} else if empty {
		if err := refuseNewStore(cfg, path+" is missing or empty"); err != nil {
			return gatehouse.Backend{}, err
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return gatehouse.Backend{}, fmt.Errorf("data directory: %w", err)
	}
	b, err := sqlite.OpenBackend(ctx, path, limits)
	if err != nil {
		if errors.Is(err, gatehouse.ErrCorrupt) {
			err = damaged(path, err)
		}
		return b, err
	}
	if err := checkIntegrity(ctx, cfg.Logger, b, path); err != nil {
		return gatehouse.Backend{}, errors.Join(err, b.Close())
	}
	return b, nil
}

// checkIntegrity runs the backend's integrity check within
// IntegrityCheckBound.
func checkIntegrity(ctx context.Context, log *slog.Logger, b gatehouse.Backend, path string) error {
	if b.IntegrityCheck == nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, IntegrityCheckBound)
	defer cancel()
	start := time.Now()
	err := b.IntegrityCheck(cctx)
	switch {
	case err == nil:
		log.Info("store integrity checked", "file", path, "took", time.Since(start).Round(time.Millisecond))
		return nil
	case errors.Is(err, gatehouse.ErrCorrupt):
		return damaged(path, err)
	case ctx.Err() == nil && cctx.Err() != nil:
		log.Warn("the store's integrity check did not finish in time; starting without it", "file", path, "bound", IntegrityCheckBound)
		return nil
	default:
		return fmt.Errorf("check the store's integrity: %w", err)
	}
}

func damaged(path string, err error) error {
	return fmt.Errorf("%s is damaged, so nothing it holds can be trusted: stop every process using it and restore it from a backup "+
		"(gatehouse keeps no second copy): %w", path, err)
}

// emptySQLite reports whether the SQLite store at path has never been
// written: the file is missing or has no bytes, and so has its WAL (a
// WAL-mode database can hold all its data in the WAL until a checkpoint).
func emptySQLite(path string) (bool, error) {
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("store: %w", err)
		}
		if fi.Size() > 0 {
			return false, nil
		}
	}
	return true, nil
}

// refuseNewStore refuses to start on an empty store where the data
// directory holds what only a data center that has run writes there: its
// generated master key, its bootstrap credentials. Such a start most likely
// follows a lost or replaced database, and a freshly bootstrapped one would
// answer every existing client with 401. A master key given by
// GATEHOUSE_MASTER_KEY or --master-key-file is no such sign: deployments
// provide it before their database exists.
func refuseNewStore(cfg Config, why string) error {
	if cfg.AllowNewStore {
		return nil
	}
	var found []string
	for _, name := range []string{keycrypt.DefaultFileName, BootstrapFile} {
		p := filepath.Join(cfg.DataDir, name)
		if _, err := os.Stat(p); err == nil {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return nil
	}
	return fmt.Errorf("refusing to start a new, empty data center: %s, but %s shows one has run here before. "+
		"Restore the database from a backup; or, to start over deliberately, pass --allow-new-store "+
		"(GATEHOUSE_ALLOW_NEW_STORE=true) or remove %s too", why, strings.Join(found, " and "), strings.Join(found, " and "))
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
