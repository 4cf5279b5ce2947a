package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/postgres"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/sqlite"
)

// isPostgres reports whether a --database value names a PostgreSQL server.
func isPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// openStore opens the store a data center runs on: PostgreSQL when
// --database is a postgres:// URL, else the embedded SQLite database in the
// data directory. Both apply their migrations.
func openStore(ctx context.Context, database, dataDir string) (gatehouse.Store, error) {
	switch {
	case isPostgres(database):
		return postgres.Open(ctx, database)
	case database != "":
		return nil, fmt.Errorf("--database must be a postgres:// URL, or empty for the embedded SQLite store in --data-dir")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return sqlite.Open(ctx, filepath.Join(dataDir, "gatehouse.db"))
}

// openBackend opens the backend a data center serves from, as openStore
// chooses it, with its change feed and failure limiter.
func openBackend(ctx context.Context, database, dataDir string, limits ratelimit.Config) (gatehouse.Backend, error) {
	switch {
	case isPostgres(database):
		return postgres.OpenBackend(ctx, database, limits, postgres.OpenOptions{})
	case database != "":
		return gatehouse.Backend{}, fmt.Errorf("--database must be a postgres:// URL, or empty for the embedded SQLite store in --data-dir")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return gatehouse.Backend{}, fmt.Errorf("data directory: %w", err)
	}
	return sqlite.OpenBackend(ctx, filepath.Join(dataDir, "gatehouse.db"), limits)
}

func newMigrateCommand() *cobra.Command {
	var database, dataDir string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the store's schema migrations and exit",
		Long: `Apply the numbered schema migrations to the store and exit. gatehouse serve
applies them by itself at start (safely when several replicas start at once),
so this is for operators who migrate as a separate deployment step.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if isPostgres(database) {
				st, err := postgres.OpenWithOptions(ctx, database, postgres.OpenOptions{SkipMigrate: true})
				if err != nil {
					return err
				}
				defer st.Close()
				if err := st.Migrate(ctx); err != nil {
					return err
				}
			} else {
				st, err := openStore(ctx, database, dataDir)
				if err != nil {
					return err
				}
				st.Close()
			}
			fmt.Fprintln(cmd.OutOrStdout(), "migrations applied")
			return nil
		},
	}
	cmd.Flags().StringVar(&database, "database", envString("GATEHOUSE_DATABASE", ""), "PostgreSQL URL (postgres://...); empty for the embedded SQLite store")
	cmd.Flags().StringVar(&dataDir, "data-dir", envString("GATEHOUSE_DATA_DIR", "./gatehouse-data"), "directory of the embedded SQLite store")
	return cmd
}
