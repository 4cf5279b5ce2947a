// Package cli holds the gatehouse command tree. It lives outside
// cmd/gatehouse so that tests can run any command in-process through Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Main runs the gatehouse command with args and returns the process exit
// code. Errors are printed as one line on stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := NewRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "gatehouse: %s\n", oneLine(err.Error()))
		return 1
	}
	return 0
}

// NewRootCommand builds the whole command tree.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Gatehouse: an identity provider for API clients",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand(), newMigrateCommand(), newTokenCommand(), newClientsCommand())
	root.AddCommand(newBenchCommand(), newKeysCommand(), newAuditCommand())
	root.AddCommand(newLocatorCommand(), newDevCommand())
	return root
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Flags with environment twins: the environment sets the default, an
// explicit flag wins.

func envString(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// envErrors holds malformed environment twins by flag name. A malformed
// twin is an error only when its flag is not given: the flag wins.
type envErrors map[string]error

// check reports the malformed twins of the flags not set explicitly.
func (e envErrors) check(cmd *cobra.Command) error {
	var errs []error
	for flag, err := range e {
		if !cmd.Flags().Changed(flag) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// envDuration reads a duration default from the environment; a malformed
// value is reported when the command runs, not silently ignored.
func envDuration(name string, def time.Duration, flag string, bad envErrors) time.Duration {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		bad[flag] = fmt.Errorf("%s: %q is not a duration (try 30s or 2h)", name, v)
		return def
	}
	return d
}

// envBool reads a boolean default from the environment, like envDuration.
func envBool(name string, def bool, flag string, bad envErrors) bool {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		bad[flag] = fmt.Errorf("%s: %q is not true or false", name, v)
		return def
	}
	return b
}

// envInt reads an integer default from the environment, like envDuration.
func envInt(name string, def int, flag string, bad envErrors) int {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		bad[flag] = fmt.Errorf("%s: %q is not a whole number", name, v)
		return def
	}
	return n
}
