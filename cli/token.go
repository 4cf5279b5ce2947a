package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gatehouse-dev/gatehouse/client"
)

// connFlags say which data center to talk to and as which API client.
type connFlags struct {
	datacenterURL string
	clientID      string
	clientSecret  string
}

const secretEnv = "GATEHOUSE_CLIENT_SECRET"

func (c *connFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.datacenterURL, "datacenter-url", envString("GATEHOUSE_DATACENTER_URL", "http://127.0.0.1:8080"),
		"base URL of the data center (env GATEHOUSE_DATACENTER_URL)")
	fs.StringVar(&c.clientID, "client-id", envString("GATEHOUSE_CLIENT_ID", ""),
		"API client ID (env GATEHOUSE_CLIENT_ID)")
	// The secret's environment twin is read when the command runs rather
	// than made the flag's default, because --help prints defaults.
	fs.StringVar(&c.clientSecret, "client-secret", "",
		"API client secret (env "+secretEnv+", which is safer: command lines are visible to other users)")
}

// newClient builds the SDK client from the flags of cmd.
func (c *connFlags) newClient(cmd *cobra.Command) (*client.Client, error) {
	secret := c.clientSecret
	if f := cmd.Flags().Lookup("client-secret"); f == nil || !f.Changed {
		secret = envString(secretEnv, "")
	}
	if c.clientID == "" {
		return nil, errors.New("missing client ID: set --client-id or GATEHOUSE_CLIENT_ID")
	}
	if secret == "" {
		return nil, errors.New("missing client secret: set " + secretEnv + " or --client-secret")
	}
	cl, err := client.New(client.Config{
		DatacenterURL: c.datacenterURL,
		ClientID:      c.clientID,
		ClientSecret:  secret,
	})
	if err != nil {
		return nil, fmt.Errorf("--datacenter-url: %w", err)
	}
	return cl, nil
}

func newTokenCommand() *cobra.Command {
	var conn connFlags
	var accessTokenOnly bool
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Obtain an access token with API-client credentials",
		Long: `Obtain a fresh access token from a data center with the client_credentials
grant and print the token response as JSON.

    export GATEHOUSE_CLIENT_ID=... GATEHOUSE_CLIENT_SECRET=...
    curl -H "Authorization: Bearer $(gatehouse token --access-token-only)" \
        http://127.0.0.1:8080/api/2/clients`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.newClient(cmd)
			if err != nil {
				return err
			}
			tok, err := c.FetchToken(cmd.Context())
			if err != nil {
				return err
			}
			if accessTokenOnly {
				_, err = fmt.Fprintln(cmd.OutOrStdout(), tok.AccessToken)
				return err
			}
			return writeJSON(cmd.OutOrStdout(), tok)
		},
	}
	conn.register(cmd.Flags())
	cmd.Flags().BoolVar(&accessTokenOnly, "access-token-only", false, "print only the access token")
	return cmd
}
