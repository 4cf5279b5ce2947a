package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/client"
)

const secretNotice = "Save the client secret now: it will not be shown again."

type clientsOptions struct {
	conn   connFlags
	output string
}

func newClientsCommand() *cobra.Command {
	o := &clientsOptions{}
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "Manage API clients",
		Long: `Manage the API clients of a data center through its account API
(/api/2/clients), authenticated as the API client given by --client-id and
GATEHOUSE_CLIENT_SECRET. Creating and changing clients needs the
tenant_admin role.`,
		// Runnable only so that cobra checks Args and rejects a misspelt
		// subcommand instead of printing help and exiting 0.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	o.conn.register(cmd.PersistentFlags())
	cmd.PersistentFlags().StringVarP(&o.output, "output", "o", outputText, "output format: text or json")
	cmd.AddCommand(
		o.createCommand(),
		o.getCommand(),
		o.listCommand(),
		o.statusCommand("disable", "disabled", "Disable an API client: it can no longer obtain tokens, and its tokens stop working"),
		o.statusCommand("enable", "enabled", "Enable a disabled API client"),
		o.regenerateCommand(),
		o.deleteCommand(),
		o.seedCommand(),
	)
	return cmd
}

// run adapts fn to cobra: it checks --output before anything goes over
// the network, then hands fn an SDK client.
func (o *clientsOptions) run(fn func(ctx context.Context, c *client.Client, out io.Writer, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(o.output); err != nil {
			return err
		}
		c, err := o.conn.newClient(cmd)
		if err != nil {
			return err
		}
		return fn(cmd.Context(), c, cmd.OutOrStdout(), args)
	}
}

// printClient prints a client in the chosen format.
func (o *clientsOptions) printClient(out io.Writer, c *api.Client) error {
	if o.output == outputJSON {
		return writeJSON(out, c)
	}
	return writeFields(out, clientFields(c))
}

func (o *clientsOptions) createCommand() *cobra.Command {
	var name, tenantID, authMethod string
	var admin bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an API client and print its secret, once",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = o.run(func(ctx context.Context, c *client.Client, out io.Writer, _ []string) error {
		switch authMethod {
		case "", client.AuthSecretBasic, client.AuthSecretPost:
		default:
			return fmt.Errorf("--auth-method %q: want %s or %s", authMethod, client.AuthSecretBasic, client.AuthSecretPost)
		}
		req := api.CreateClientRequest{
			Type:                    "api_client",
			TenantID:                tenantID,
			TokenEndpointAuthMethod: authMethod,
		}
		if admin {
			req.Role = "tenant_admin"
		}
		if name != "" {
			data, err := json.Marshal(map[string]string{"client_name": name})
			if err != nil {
				return err
			}
			req.Data = data
		}
		created, err := c.Accounts().Create(ctx, req)
		if err != nil {
			return err
		}
		if err := o.printClient(out, created); err != nil {
			return err
		}
		return o.notice(cmd, out, secretNotice)
	})
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "display name (data.client_name)")
	f.StringVar(&tenantID, "tenant-id", "", "tenant of the new client (default: the caller's tenant)")
	f.StringVar(&authMethod, "auth-method", "", "how the client authenticates at the token endpoint: client_secret_basic (default) or client_secret_post")
	f.BoolVar(&admin, "admin", false, "grant the tenant_admin role, which may manage the tenant's API clients")
	return cmd
}

// notice prints a note for the person at the terminal: after the text
// output, or on stderr when stdout carries JSON for a program to parse.
func (o *clientsOptions) notice(cmd *cobra.Command, out io.Writer, msg string) error {
	if o.output == outputJSON {
		_, err := fmt.Fprintln(cmd.ErrOrStderr(), msg)
		return err
	}
	_, err := fmt.Fprintf(out, "\n%s\n", msg)
	return err
}

func (o *clientsOptions) getCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Show an API client",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = o.run(func(ctx context.Context, c *client.Client, out io.Writer, args []string) error {
		cl, err := c.Accounts().Get(ctx, args[0])
		if err != nil {
			return err
		}
		return o.printClient(out, cl)
	})
	return cmd
}

func (o *clientsOptions) listCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the API clients",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = o.run(func(ctx context.Context, c *client.Client, out io.Writer, _ []string) error {
		list, err := c.Accounts().List(ctx)
		if err != nil {
			return err
		}
		if o.output == outputJSON {
			return writeJSON(out, list)
		}
		return writeClientTable(out, list.Items)
	})
	return cmd
}

func (o *clientsOptions) statusCommand(use, status, short string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = o.run(func(ctx context.Context, c *client.Client, out io.Writer, args []string) error {
		cl, err := c.Accounts().Update(ctx, args[0], api.UpdateClientRequest{Status: &status})
		if err != nil {
			return err
		}
		return o.printClient(out, cl)
	})
	return cmd
}

func (o *clientsOptions) regenerateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "regenerate-secret ID",
		Short: "Replace an API client's secret and print the new one, once",
		Long: `Replace an API client's secret and print the new one, once. The old secret
and every token issued under it stop working at once.`,
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = o.run(func(ctx context.Context, c *client.Client, out io.Writer, args []string) error {
		s, err := c.Accounts().RegenerateSecret(ctx, args[0])
		if err != nil {
			return err
		}
		if o.output == outputJSON {
			err = writeJSON(out, s)
		} else {
			err = writeFields(out, []field{
				{"Client ID", printable(s.ClientID)},
				{"Client secret", printable(s.ClientSecret)},
			})
		}
		if err != nil {
			return err
		}
		return o.notice(cmd, out, secretNotice+" The old secret and its tokens no longer work.")
	})
	return cmd
}

func (o *clientsOptions) deleteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an API client",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = o.run(func(ctx context.Context, c *client.Client, out io.Writer, args []string) error {
		if err := c.Accounts().Delete(ctx, args[0]); err != nil {
			return err
		}
		// JSON output stays empty: the API answers 204 and a script has
		// the exit status.
		if o.output == outputText {
			_, err := fmt.Fprintf(out, "Deleted API client %s.\n", printable(args[0]))
			return err
		}
		return nil
	})
	return cmd
}
