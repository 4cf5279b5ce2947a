package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/datacenter"
)

func newMigrateCommand() *cobra.Command {
	cfg := datacenter.Defaults()
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the store's schema migrations and exit",
		Long: `Apply the numbered schema migrations to the store and exit. gatehouse serve
applies them by itself at start (safely when several replicas start at once),
so this is for operators who migrate as a separate deployment step.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := datacenter.Migrate(cmd.Context(), cfg); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "migrations applied")
			return nil
		},
	}
	cmd.Flags().StringVar(&cfg.Database, "database", envString("GATEHOUSE_DATABASE", ""), "PostgreSQL URL (postgres://...); empty for the embedded SQLite store")
	cmd.Flags().StringVar(&cfg.DataDir, "data-dir", envString("GATEHOUSE_DATA_DIR", datacenter.DefaultDataDir), "directory of the embedded SQLite store")
	return cmd
}
