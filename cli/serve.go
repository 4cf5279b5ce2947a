package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/profiling"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
	"github.com/gatehouse-dev/gatehouse/keycrypt"
	"github.com/gatehouse-dev/gatehouse/metrics"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/server"
	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/token"
)

// BootstrapFile is where generated bootstrap credentials are written,
// inside the data directory.
const BootstrapFile = "bootstrap-client.json"

type serveOptions struct {
	listen        string
	datacenterURL string
	datacenterID  string
	dataDir       string
	tokenTTL      time.Duration
	leeway        time.Duration
	logFormat     string
	logLevel      string
	masterKeyFile string
	database      string
	authLimit     int
	authWindow    time.Duration
	keyRotation   time.Duration
	trustedProxy  string
	pprofListen   string
	signingAlg    string
	peers         []string // ID=URL, from --peer or GATEHOUSE_PEERS
	envErr        envErrors

	// Set by gatehouse dev, which runs several data centers in one process.
	ln        net.Listener // already listening; nil means listen on listen
	logger    *slog.Logger // nil means one built from logFormat and logLevel
	isolated  bool         // master key and bootstrap credentials from dataDir only, never the environment, which all would share
	onStarted func()       // called once bootstrapped, just before serving
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
<data-dir>/` + BootstrapFile + ` (mode 0600).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.envErr.check(cmd); err != nil {
				return err
			}
			return runServe(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", envString("GATEHOUSE_LISTEN", "127.0.0.1:8080"), "address to listen on (host:port)")
	f.StringVar(&o.datacenterURL, "datacenter-url", envString("GATEHOUSE_DATACENTER_URL", ""), "public base URL of this data center (default http:// + the listen address)")
	f.StringVar(&o.datacenterID, "datacenter-id", envString("GATEHOUSE_DATACENTER_ID", "local"), "short name of this data center")
	f.StringVar(&o.dataDir, "data-dir", envString("GATEHOUSE_DATA_DIR", "./gatehouse-data"), "directory of the embedded SQLite store, the generated master key and bootstrap credentials")
	f.StringVar(&o.database, "database", envString("GATEHOUSE_DATABASE", ""), "PostgreSQL URL (postgres://...) shared by the replicas of a data center; empty for the embedded SQLite store in --data-dir")
	f.DurationVar(&o.tokenTTL, "token-ttl", envDuration("GATEHOUSE_TOKEN_TTL", 2*time.Hour, "token-ttl", o.envErr), "lifetime of access tokens")
	f.DurationVar(&o.leeway, "leeway", envDuration("GATEHOUSE_LEEWAY", 30*time.Second, "leeway", o.envErr), "clock-skew allowance when checking exp, nbf and iat")
	f.StringVar(&o.masterKeyFile, "master-key-file", envString(keycrypt.FileEnvVar, ""), "file holding the master key that encrypts signing keys (default: GATEHOUSE_MASTER_KEY, else <data-dir>/master.key, generated if missing)")
	f.IntVar(&o.authLimit, "auth-failure-limit", envInt("GATEHOUSE_AUTH_FAILURE_LIMIT", ratelimit.DefaultLimit, "auth-failure-limit", o.envErr), "failed client authentications allowed per client and address, and per address, in each window")
	f.DurationVar(&o.authWindow, "auth-failure-window", envDuration("GATEHOUSE_AUTH_FAILURE_WINDOW", ratelimit.DefaultWindow, "auth-failure-window", o.envErr), "the window of --auth-failure-limit")
	f.DurationVar(&o.keyRotation, "key-rotation-period", envDuration("GATEHOUSE_KEY_ROTATION_PERIOD", 30*24*time.Hour, "key-rotation-period", o.envErr), "rotate in a new signing key when the newest is this old; 0 turns scheduled rotation off")
	f.StringVar(&o.trustedProxy, "trusted-proxies", envString("GATEHOUSE_TRUSTED_PROXIES", ""), "comma-separated addresses or CIDR prefixes of load balancers whose X-Forwarded-For names the client (rate limits, audit, last access)")
	f.StringVar(&o.signingAlg, "signing-alg", envString("GATEHOUSE_SIGNING_ALG", string(token.DefaultAlgorithm)), "algorithm this data center signs tokens with: RS256, ES256 or EdDSA")
	f.StringVar(&o.pprofListen, "pprof-listen", envString("GATEHOUSE_PPROF_LISTEN", ""), "loopback address (127.0.0.1:6060) to serve net/http/pprof on; empty turns profiling off")
	f.StringVar(&o.logFormat, "log-format", envString("GATEHOUSE_LOG_FORMAT", "text"), "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", envString("GATEHOUSE_LOG_LEVEL", "info"), "log level: debug, info, warn or error")
	f.StringArrayVar(&o.peers, "peer", envList("GATEHOUSE_PEERS"), "another data center of the cloud, as ID=URL; repeat for each")
	return cmd
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

func runServe(ctx context.Context, o *serveOptions, stderr io.Writer) error {
	log := o.logger
	if log == nil {
		var err error
		if log, err = newLogger(stderr, o.logFormat, o.logLevel); err != nil {
			return err
		}
	}
	if o.tokenTTL <= 0 {
		return fmt.Errorf("--token-ttl must be positive, got %s", o.tokenTTL)
	}
	if o.leeway < 0 {
		return fmt.Errorf("--leeway must not be negative, got %s", o.leeway)
	}
	trusted, err := wire.ParseTrustedProxies(o.trustedProxy)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if o.signingAlg == "" {
		o.signingAlg = string(token.DefaultAlgorithm) // an empty twin means the default, as for gatehouse dev
	}
	if _, err := token.ParseAlgorithm(o.signingAlg); err != nil {
		return fmt.Errorf("--signing-alg (GATEHOUSE_SIGNING_ALG): %w", err)
	}
	if o.keyRotation < 0 {
		return fmt.Errorf("--key-rotation-period must not be negative, got %s", o.keyRotation)
	}
	if o.authLimit < 1 || o.authWindow <= 0 {
		return fmt.Errorf("--auth-failure-limit must be at least 1 and --auth-failure-window positive")
	}
	if o.datacenterURL != "" {
		if _, _, err := token.Endpoints(o.datacenterURL); err != nil {
			return err
		}
	}
	peers, err := parsePairs("--peer", o.peers)
	if err != nil {
		return err
	}
	boot, chosen := service.NewBootstrapCredentials(), false
	if !o.isolated {
		if boot, chosen, err = bootstrapFromEnv(); err != nil {
			return err
		}
	}

	ln := o.ln
	if ln == nil {
		if ln, err = net.Listen("tcp", o.listen); err != nil {
			return fmt.Errorf("listen on %s: %w", o.listen, err)
		}
	}
	defer ln.Close()
	var pprofLn net.Listener
	if o.pprofListen != "" {
		if pprofLn, err = profiling.Listen(o.pprofListen); err != nil {
			return err
		}
		defer pprofLn.Close()
	}
	dcURL := o.datacenterURL
	if dcURL == "" {
		dcURL = "http://" + ln.Addr().String()
	}
	// Checked again by service.New; here, before anything is written to
	// the data directory, so that a mistyped --peer leaves nothing behind.
	if err := service.ValidatePeers(o.datacenterID, dcURL, toPeers(peers)); err != nil {
		return err
	}

	// Replicas on PostgreSQL share their failure counts, so an attacker
	// gains nothing by spreading guesses over them.
	backend, err := openBackend(ctx, o.database, o.dataDir, ratelimit.Config{Limit: o.authLimit, Window: o.authWindow})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer backend.Close()
	m := metrics.New()
	store := m.InstrumentStore(backend.Store) // times every store call
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}

	masterKeyEnv := os.Getenv(keycrypt.EnvVar)
	if o.isolated {
		masterKeyEnv = ""
	}
	if err := checkMasterKeySource(ctx, store, o, masterKeyEnv); err != nil {
		return err
	}
	sealer, src, err := keycrypt.LoadMasterKey(keycrypt.Options{
		EnvValue: masterKeyEnv, KeyFile: o.masterKeyFile, DataDir: o.dataDir,
	})
	if err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	switch {
	case src.Generated && o.isolated:
		// gatehouse dev: a throwaway cloud, whose key stays with its data.
		log.Info("generated a master key for the signing keys", "file", src.Path)
	case src.Generated:
		log.Warn("generated a master key for the signing keys; move it to a secret store and pass it as GATEHOUSE_MASTER_KEY or --master-key-file",
			"file", src.Path)
	default:
		log.Info("master key loaded", "from", src.String(), "fingerprint", sealer.Fingerprint())
	}
	svc, err := service.New(service.Config{
		Sealer:            sealer,
		AuthLimiter:       backend.Limiter,
		KeyRotationPeriod: o.keyRotation,
		SigningAlgorithm:  o.signingAlg,
		Store:             store,
		Changes:           backend.Changes,
		DatacenterURL:     dcURL,
		DatacenterID:      o.datacenterID,
		TokenTTL:          o.tokenTTL,
		Leeway:            o.leeway,
		Logger:            log,
		Peers:             toPeers(peers),
	})
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := svc.Close(cctx); err != nil {
			log.Warn("writing client accesses at shutdown failed", "err", err)
		}
	}()

	if err := bootstrap(ctx, svc, log, o.dataDir, boot, chosen); err != nil {
		return err
	}

	m.ObserveService(svc)
	srv := server.New(server.Config{Service: svc, DatacenterURL: dcURL, Logger: log, Metrics: m, TrustedProxies: trusted})
	log.Info("gatehouse listening",
		"addr", ln.Addr().String(),
		"datacenter_id", o.datacenterID,
		"datacenter_url", dcURL,
		"issuer", svc.Issuer(),
		"store", storeName(o.database, o.dataDir))
	if pprofLn != nil {
		pctx, stopProfiles := context.WithCancel(ctx)
		profilesDone := make(chan struct{})
		defer func() { stopProfiles(); <-profilesDone }()
		log.Info("serving profiles (net/http/pprof)", "addr", "http://"+pprofLn.Addr().String()+"/debug/pprof/")
		go func() {
			defer close(profilesDone)
			if err := profiling.Serve(pctx, pprofLn, log); err != nil {
				log.Warn("profile listener stopped", "err", err)
			}
		}()
	}
	if o.onStarted != nil {
		o.onStarted()
	}
	err = srv.Serve(ctx, ln, 10*time.Second)
	log.Info("gatehouse stopped")
	return err
}

// bootstrapFromEnv reads operator-chosen bootstrap credentials, refusing
// weak or awkward ones before anything else starts.
func bootstrapFromEnv() (cred service.BootstrapCredentials, chosen bool, err error) {
	id, hasID := os.LookupEnv("GATEHOUSE_BOOTSTRAP_CLIENT_ID")
	secret, hasSecret := os.LookupEnv("GATEHOUSE_BOOTSTRAP_CLIENT_SECRET")
	if !hasID && !hasSecret {
		return service.NewBootstrapCredentials(), false, nil
	}
	if hasID != hasSecret {
		return cred, false, errors.New("set both GATEHOUSE_BOOTSTRAP_CLIENT_ID and GATEHOUSE_BOOTSTRAP_CLIENT_SECRET, or neither")
	}
	if err := gatehouse.ValidateOperatorCredentials(id, secret); err != nil {
		return cred, false, fmt.Errorf("bootstrap credentials refused: %w", err)
	}
	cred = service.NewBootstrapCredentials()
	cred.ClientID, cred.ClientSecret = id, secret
	return cred, true, nil
}

// bootstrap creates the first admin on an empty store. Generated
// credentials are written to a file before the store commits them, so they
// cannot be lost; the log names the file, never its content.
func bootstrap(ctx context.Context, svc *service.Service, log *slog.Logger, dataDir string, cred service.BootstrapCredentials, chosen bool) error {
	if chosen {
		created, err := svc.Bootstrap(ctx, cred)
		if err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		if created {
			log.Info("bootstrapped root tenant and admin client from the environment", "client_id", cred.ClientID, "tenant_id", cred.TenantID)
		} else {
			log.Warn("the store is already bootstrapped: GATEHOUSE_BOOTSTRAP_CLIENT_ID and GATEHOUSE_BOOTSTRAP_CLIENT_SECRET are ignored; " +
				"manage the admin client through the API (gatehouse clients regenerate-secret)")
		}
		return nil
	}
	final := filepath.Join(dataDir, BootstrapFile)
	tmp, err := os.CreateTemp(dataDir, BootstrapFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("bootstrap: %w", err)
	}
	b, _ := json.MarshalIndent(cred, "", "  ")
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	created, err := svc.Bootstrap(ctx, cred)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if !created {
		warnStrandedBootstrapFiles(log, dataDir, final, tmp.Name())
		return nil
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("bootstrap: credentials are in %s but could not be moved to %s: %w", tmp.Name(), final, err)
	}
	if err := syncDir(dataDir); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	log.Info("bootstrapped root tenant and admin client; its credentials are in the file named here (mode 0600)",
		"file", final)
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// warnStrandedBootstrapFiles points the operator at credentials a crash
// left behind: written and committed, but not yet renamed into place.
func warnStrandedBootstrapFiles(log *slog.Logger, dataDir, final, ours string) {
	if _, err := os.Stat(final); err == nil {
		return
	}
	stranded, _ := filepath.Glob(filepath.Join(dataDir, BootstrapFile+".*.tmp"))
	for _, f := range stranded {
		if f != ours {
			log.Warn("found bootstrap credentials left by an interrupted first start; if the admin client works with them, rename the file", "file", f, "to", final)
		}
	}
}

// storeName describes the store for the log, without a DSN's password.
func storeName(database, dataDir string) string {
	if !isPostgres(database) {
		return "sqlite:" + filepath.Join(dataDir, "gatehouse.db")
	}
	if u, err := url.Parse(database); err == nil {
		return "postgres://" + u.Host + u.Path
	}
	return "postgres"
}

// checkMasterKeySource refuses to generate a master key where a generated
// one would be wrong: for replicas sharing PostgreSQL, which must all use
// the same key, and for a store that already holds keys sealed under a key
// that is not configured (a new key would only fail to open them, and leave
// a stray key file behind).
func checkMasterKeySource(ctx context.Context, store gatehouse.Store, o *serveOptions, env string) error {
	if env != "" || o.masterKeyFile != "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(o.dataDir, keycrypt.DefaultFileName)); err == nil {
		return nil
	}
	if isPostgres(o.database) && !o.isolated {
		return errors.New("with --database, set GATEHOUSE_MASTER_KEY or --master-key-file: every replica needs the same master key, so none is generated")
	}
	keys, err := store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("read signing keys: %w", err)
	}
	if len(keys) > 0 {
		return fmt.Errorf("the store holds signing keys sealed under a master key, but none is configured and %s does not exist: "+
			"set GATEHOUSE_MASTER_KEY or --master-key-file to the key this data center was started with", filepath.Join(o.dataDir, keycrypt.DefaultFileName))
	}
	return nil
}
