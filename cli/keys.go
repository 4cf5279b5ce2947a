package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/client"
)

// newKeysCommand is gatehouse keys: the signing-key lifecycle, over the
// running data center's admin API, with the same flags and environment as
// gatehouse clients.
func newKeysCommand() *cobra.Command {
	o := &clientsOptions{}
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List and rotate the data center's signing keys",
		Long: `List and rotate the signing keys of a running data center, through its admin
API, as an admin of the root tenant (--client-id, GATEHOUSE_CLIENT_SECRET).

A rotated-in key is published in the JWKS at once and signs only after every
verifier's JWKS cache has had time to fetch it; the keys it replaces stay
published until the last token they signed has expired.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	o.conn.register(cmd.PersistentFlags())
	cmd.PersistentFlags().StringVarP(&o.output, "output", "o", outputText, "output format: text or json")

	list := &cobra.Command{Use: "list", Short: "List the signing keys", Args: cobra.NoArgs}
	list.RunE = o.run(func(ctx context.Context, c *client.Client, out io.Writer, _ []string) error {
		keys, err := c.Accounts().ListKeys(ctx)
		if err != nil {
			return err
		}
		if o.output == outputJSON {
			return writeJSON(out, keys)
		}
		return writeKeyTable(out, keys.Items)
	})
	rotate := &cobra.Command{Use: "rotate", Short: "Rotate in a new signing key", Args: cobra.NoArgs}
	rotate.RunE = o.run(func(ctx context.Context, c *client.Client, out io.Writer, _ []string) error {
		k, err := c.Accounts().RotateKeys(ctx)
		if err != nil {
			return err
		}
		if o.output == outputJSON {
			return writeJSON(out, k)
		}
		_, err = fmt.Fprintf(out, "rotated in %s key %s: published now, signs from %s\n", printable(k.Algorithm), printable(k.KID), formatTime(k.ActiveAt))
		return err
	})
	cmd.AddCommand(list, rotate)
	return cmd
}

func writeKeyTable(w io.Writer, keys []api.Key) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tSIGNS FROM\tRETIRES")
	for _, k := range keys {
		retire := "-"
		if k.RetireAt != nil {
			retire = formatTime(*k.RetireAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", printable(k.KID), printable(k.Algorithm), printable(k.State), formatTime(k.CreatedAt), formatTime(k.ActiveAt), retire)
	}
	return tw.Flush()
}

// newAuditCommand is gatehouse audit: the tenant's audit log, newest first.
func newAuditCommand() *cobra.Command {
	o := &clientsOptions{}
	var target string
	var limit int
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the tenant's audit log of management actions, newest first",
		Args:  cobra.NoArgs,
	}
	o.conn.register(cmd.Flags())
	cmd.Flags().StringVarP(&o.output, "output", "o", outputText, "output format: text or json")
	cmd.Flags().StringVar(&target, "target", "", "only entries about this client id, kid or token id")
	cmd.Flags().IntVar(&limit, "limit", 50, "how many entries to show (1 to 1000)")
	cmd.RunE = o.run(func(ctx context.Context, c *client.Client, out io.Writer, _ []string) error {
		list, err := c.Accounts().ListAudit(ctx, client.AuditQuery{Target: target, Limit: limit})
		if err != nil {
			return err
		}
		if o.output == outputJSON {
			return writeJSON(out, list)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tACTOR\tFROM\tACTION\tTARGET\tOUTCOME")
		for _, e := range list.Items {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", formatTime(e.Time), printable(e.ActorID), orDash(e.SourceIP),
				printable(e.Action), orDash(printable(e.Target)), printable(e.Outcome))
		}
		return tw.Flush()
	})
	return cmd
}
