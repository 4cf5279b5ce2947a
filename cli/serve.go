package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/datacenter"
	"github.com/gatehouse-dev/gatehouse/keycrypt"
	"github.com/gatehouse-dev/gatehouse/service"
)

type serveOptions struct {
	cfg       datacenter.Config
	peers     []string // ID=URL, from --peer or GATEHOUSE_PEERS
	logFormat string
	logLevel  string
	envErr    envErrors
}

func newServeCommand() *cobra.Command {
	o := &serveOptions{envErr: envErrors{}}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a data center's identity provider",
		Long: `Run one data center's identity provider: the token endpoint, JWKS and
discovery, and the API-client management API.

Every flag has an environment twin (GATEHOUSE_LISTEN, GATEHOUSE_DATACENTER_URL,
GATEHOUSE_DATACENTER_ID, GATEHOUSE_DATA_DIR, GATEHOUSE_DATABASE, GATEHOUSE_TOKEN_TTL,
GATEHOUSE_LEEWAY, GATEHOUSE_MASTER_KEY_FILE, GATEHOUSE_AUTH_FAILURE_LIMIT,
GATEHOUSE_AUTH_FAILURE_WINDOW, GATEHOUSE_KEY_ROTATION_PERIOD, GATEHOUSE_TRUSTED_PROXIES, GATEHOUSE_LOG_FORMAT, GATEHOUSE_LOG_LEVEL,
GATEHOUSE_PEERS, GATEHOUSE_PPROF_LISTEN, GATEHOUSE_SIGNING_ALG); a flag wins over its twin.

--signing-alg chooses what this data center signs tokens with: RS256 (the
default, and the platform's), ES256 or EdDSA, much cheaper to sign. Changing
it rotates in a key of the new algorithm at start; verifiers see it in the
JWKS before it signs, and tokens signed before stay valid until they expire.
Give every replica of a data center the same value.

--pprof-listen serves Go's profiles (net/http/pprof, under /debug/pprof/)
on a second, loopback-only address; they are never on the public listener.

The other data centers of the cloud are given as --peer ID=URL, once per
peer (GATEHOUSE_PEERS: comma-separated ID=URL pairs). They are listed at
GET /api/2/datacenters, and a token one of them issued is refused here with
a tokenIssuerMismatch that names it.

Private signing keys are stored encrypted under a master key: the base64 of
32 bytes in GATEHOUSE_MASTER_KEY, or a file (--master-key-file). Without
either, <data-dir>/master.key is used, and generated (mode 0600) on first
start: move it to a secret store. A master key that cannot decrypt the
stored keys stops the server.

On an empty store the server creates the root tenant and an admin API client.
Set GATEHOUSE_BOOTSTRAP_CLIENT_ID and GATEHOUSE_BOOTSTRAP_CLIENT_SECRET to
choose its credentials; otherwise they are generated and written to
<data-dir>/` + datacenter.BootstrapFile + ` (mode 0600).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.envErr.check(cmd); err != nil {
				return err
			}
			return runServe(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	c := &o.cfg
	f := cmd.Flags()
	f.StringVar(&c.Listen, "listen", envString("GATEHOUSE_LISTEN", datacenter.DefaultListen), "address to listen on (host:port)")
	f.StringVar(&c.URL, "datacenter-url", envString("GATEHOUSE_DATACENTER_URL", ""), "public base URL of this data center (default http:// + the listen address)")
	f.StringVar(&c.ID, "datacenter-id", envString("GATEHOUSE_DATACENTER_ID", datacenter.DefaultID), "short name of this data center")
	f.StringVar(&c.DataDir, "data-dir", envString("GATEHOUSE_DATA_DIR", datacenter.DefaultDataDir), "directory of the embedded SQLite store, the generated master key and bootstrap credentials")
	f.StringVar(&c.Database, "database", envString("GATEHOUSE_DATABASE", ""), "PostgreSQL URL (postgres://...) shared by the replicas of a data center; empty for the embedded SQLite store in --data-dir")
	f.BoolVar(&c.AllowNewStore, "allow-new-store", envBool("GATEHOUSE_ALLOW_NEW_STORE", false, "allow-new-store", o.envErr), "start a new, empty data center even though --data-dir shows one ran here before (its master key or bootstrap credentials are there): the deliberate way to start over after the database is gone")
	f.DurationVar(&c.TokenTTL, "token-ttl", envDuration("GATEHOUSE_TOKEN_TTL", datacenter.DefaultTokenTTL, "token-ttl", o.envErr), "lifetime of access tokens")
	f.DurationVar(&c.Leeway, "leeway", envDuration("GATEHOUSE_LEEWAY", datacenter.DefaultLeeway, "leeway", o.envErr), "clock-skew allowance when checking exp, nbf and iat")
	f.StringVar(&c.MasterKeyFile, "master-key-file", envString(keycrypt.FileEnvVar, ""), "file holding the master key that encrypts signing keys (default: GATEHOUSE_MASTER_KEY, else <data-dir>/master.key, generated if missing)")
	f.IntVar(&c.AuthFailureLimit, "auth-failure-limit", envInt("GATEHOUSE_AUTH_FAILURE_LIMIT", datacenter.DefaultAuthFailureLimit, "auth-failure-limit", o.envErr), "failed client authentications allowed per client and address, and per address, in each window")
	f.DurationVar(&c.AuthFailureWindow, "auth-failure-window", envDuration("GATEHOUSE_AUTH_FAILURE_WINDOW", datacenter.DefaultAuthFailureWindow, "auth-failure-window", o.envErr), "the window of --auth-failure-limit")
	f.DurationVar(&c.KeyRotationPeriod, "key-rotation-period", envDuration("GATEHOUSE_KEY_ROTATION_PERIOD", datacenter.DefaultKeyRotationPeriod, "key-rotation-period", o.envErr), "rotate in a new signing key when the newest is this old; 0 turns scheduled rotation off")
	f.StringVar(&c.TrustedProxies, "trusted-proxies", envString("GATEHOUSE_TRUSTED_PROXIES", ""), "comma-separated addresses or CIDR prefixes of load balancers whose X-Forwarded-For names the client (rate limits, audit, last access)")
	f.StringVar(&c.SigningAlgorithm, "signing-alg", envString("GATEHOUSE_SIGNING_ALG", datacenter.DefaultSigningAlgorithm), "algorithm this data center signs tokens with: RS256, ES256 or EdDSA")
	f.StringVar(&c.PprofListen, "pprof-listen", envString("GATEHOUSE_PPROF_LISTEN", ""), "loopback address (127.0.0.1:6060) to serve net/http/pprof on; empty turns profiling off")
	f.StringVar(&o.logFormat, "log-format", envString("GATEHOUSE_LOG_FORMAT", "text"), "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", envString("GATEHOUSE_LOG_LEVEL", "info"), "log level: debug, info, warn or error")
	f.StringArrayVar(&o.peers, "peer", envList("GATEHOUSE_PEERS"), "another data center of the cloud, as ID=URL; repeat for each")
	return cmd
}

// runServe completes the configuration from the environment, which only
// gatehouse serve reads (gatehouse dev's data centers would all share it),
// and runs the data center.
func runServe(ctx context.Context, o *serveOptions, stderr io.Writer) error {
	log, err := newLogger(stderr, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	cfg := o.cfg
	cfg.Logger = log
	peers, err := parsePairs("--peer", o.peers)
	if err != nil {
		return err
	}
	cfg.Peers = peers
	cfg.MasterKey = os.Getenv(keycrypt.EnvVar)
	if cfg.Bootstrap, err = bootstrapFromEnv(); err != nil {
		return err
	}
	return datacenter.Run(ctx, cfg)
}

// bootstrapFromEnv reads operator-chosen bootstrap credentials; nil when
// none are set, so that the data center generates them.
func bootstrapFromEnv() (*service.BootstrapCredentials, error) {
	id, hasID := os.LookupEnv("GATEHOUSE_BOOTSTRAP_CLIENT_ID")
	secret, hasSecret := os.LookupEnv("GATEHOUSE_BOOTSTRAP_CLIENT_SECRET")
	if !hasID && !hasSecret {
		return nil, nil
	}
	if hasID != hasSecret {
		return nil, errors.New("set both GATEHOUSE_BOOTSTRAP_CLIENT_ID and GATEHOUSE_BOOTSTRAP_CLIENT_SECRET, or neither")
	}
	cred := service.NewBootstrapCredentials()
	cred.ClientID, cred.ClientSecret = id, secret
	return &cred, nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
}
