package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/bench"
)

// benchOptions are the flags of the bench subcommands.
type benchOptions struct {
	url          string
	clientID     string
	clientSecret string
	credentials  string
	duration     time.Duration
	requests     int64
	concurrency  int
	json         bool
	plot         string
}

func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a data center's throughput and latency",
		Long: `Load-test a data center, as pgbench does a database: many goroutines send
requests in a closed loop over keep-alive connections for a while, then a
summary shows the requests, the errors by HTTP status, the throughput and the
latency percentiles (p50, p90, p99, max).

    gatehouse bench sign                       # the machine's RS256 signing limit (--alg ES256|EdDSA for the others)
    gatehouse bench tokens --concurrency 64    # POST /bc/idp/token
    gatehouse bench api --duration 30s         # GET /api/2/clients/{id} with a bearer token

The run ends after --duration, or after --requests requests when that is
given (then --duration applies only if given too), or at Ctrl-C, which still
prints the summary. On a terminal a progress line shows on stderr.

--json prints the summary as one JSON object on one line: requests, errors,
errors_by_status (by HTTP status, or "network" for requests that got no
answer), duration_s, rps, mean_ms, p50_ms, p90_ms, p99_ms and max_ms, plus
name, concurrency and, after Ctrl-C, interrupted. Latencies count every
request that got an answer; rps counts every completed request.

--plot FILE.svg writes a chart of the throughput and the p99 latency per
second over the run.

The command exits 1 when any request failed, so scripts can rely on it.
Point it only at data centers you run: it sends as much load as they take.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newBenchTokensCommand(), newBenchAPICommand(), newBenchSignCommand())
	return cmd
}

// register adds the flags every bench subcommand has.
func (o *benchOptions) register(cmd *cobra.Command, defaultConcurrency int) {
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run")
	f.Int64Var(&o.requests, "requests", 0, "stop after this many requests (0: no limit, --duration ends the run)")
	f.IntVar(&o.concurrency, "concurrency", defaultConcurrency, "number of concurrent workers, each with one request in flight")
	f.BoolVar(&o.json, "json", false, "print the summary as one JSON object")
	f.StringVar(&o.plot, "plot", "", "write an SVG chart of throughput and p99 latency over time to this file")
}

// registerConn adds the flags that say where to send requests and as whom.
func (o *benchOptions) registerConn(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.url, "url", envString("GATEHOUSE_DATACENTER_URL", "http://127.0.0.1:8080"),
		"base URL of the data center (env GATEHOUSE_DATACENTER_URL)")
	f.StringVar(&o.clientID, "client-id", envString("GATEHOUSE_CLIENT_ID", ""), "API client ID (env GATEHOUSE_CLIENT_ID)")
	// As for `gatehouse token`: the environment twin is read when the
	// command runs, not made the default, because --help prints defaults.
	f.StringVar(&o.clientSecret, "client-secret", "",
		"API client secret (env "+secretEnv+", which is safer: command lines are visible to other users)")
}

// creds returns the one client's credentials from the flags.
func (o *benchOptions) creds(cmd *cobra.Command) (bench.Credentials, error) {
	secret := o.clientSecret
	if !cmd.Flags().Changed("client-secret") {
		secret = envString(secretEnv, "")
	}
	if o.clientID == "" {
		return bench.Credentials{}, errors.New("missing client ID: set --client-id or GATEHOUSE_CLIENT_ID")
	}
	if secret == "" {
		return bench.Credentials{}, errors.New("missing client secret: set " + secretEnv + " or --client-secret")
	}
	return bench.Credentials{ClientID: o.clientID, ClientSecret: secret}, nil
}

// config turns the flags into the engine's bounds. A request count given
// without a duration is the only bound, like pgbench -t; otherwise the
// duration (10s by default) bounds the run too.
func (o *benchOptions) config(cmd *cobra.Command) (bench.Config, error) {
	if o.concurrency < 1 {
		return bench.Config{}, fmt.Errorf("--concurrency must be at least 1, got %d", o.concurrency)
	}
	if o.requests < 0 {
		return bench.Config{}, fmt.Errorf("--requests must not be negative, got %d", o.requests)
	}
	if o.duration < 0 {
		return bench.Config{}, fmt.Errorf("--duration must not be negative, got %s", o.duration)
	}
	cfg := bench.Config{Concurrency: o.concurrency, Duration: o.duration, Requests: o.requests}
	if o.requests > 0 && !cmd.Flags().Changed("duration") {
		cfg.Duration = 0
	}
	if cfg.Duration == 0 && cfg.Requests == 0 {
		return bench.Config{}, errors.New("--duration 0 needs --requests: a run must end by itself")
	}
	if bench.IsTerminal(cmd.ErrOrStderr()) {
		bar := &bench.ProgressBar{W: cmd.ErrOrStderr()}
		cfg.Progress = bar.Update
	}
	return cfg, nil
}

func (o *benchOptions) http() (baseURL string, err error) {
	baseURL, err = bench.BaseURL(o.url)
	if err != nil {
		return "", fmt.Errorf("--url: %w", err)
	}
	return baseURL, nil
}

func newBenchTokensCommand() *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Load-test the token endpoint (client_credentials)",
		Long: `Send client_credentials token requests (POST <url>/bc/idp/token with
client_secret_basic) as fast as the data center answers them.

With --credentials FILE the requests spread at random over many clients, so
the store and the client cache really work. FILE holds either a JSON array
of objects or one JSON object per line (JSON Lines), each with client_id and
client_secret; other fields are ignored:

    {"client_id":"…","client_secret":"…"}
    {"client_id":"…","client_secret":"…"}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.config(cmd)
			if err != nil {
				return err
			}
			baseURL, err := o.http()
			if err != nil {
				return err
			}
			var creds []bench.Credentials
			if o.credentials != "" {
				if creds, err = bench.ReadCredentialsFile(o.credentials); err != nil {
					return fmt.Errorf("--credentials: %w", err)
				}
			} else {
				c, err := o.creds(cmd)
				if err != nil {
					return fmt.Errorf("%w (or give --credentials FILE)", err)
				}
				creds = []bench.Credentials{c}
			}
			hc := bench.NewHTTPClient(cfg.Concurrency)
			defer hc.CloseIdleConnections()
			// One request first, so that a wrong URL or secret is one clear
			// error rather than a run of nothing but failures.
			if _, err := bench.FetchToken(cmd.Context(), hc, baseURL, creds[0]); err != nil {
				return err
			}
			title := fmt.Sprintf("bench tokens: %s, %d clients", baseURL, len(creds))
			return o.run(cmd, cfg, "tokens", title, "requests", bench.TokenOp(hc, baseURL, creds))
		},
	}
	o.registerConn(cmd)
	o.register(cmd, 16)
	cmd.Flags().StringVar(&o.credentials, "credentials", "", "spread the requests at random over the clients in this file (JSON array or JSON Lines)")
	return cmd
}

func newBenchAPICommand() *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Load-test the account API's bearer check (GET /api/2/clients/{id})",
		Long: `Fetch one access token, then read the client itself
(GET <url>/api/2/clients/{client-id}) with it as fast as the data center
answers: the cheapest authenticated request, so it measures the bearer check.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.config(cmd)
			if err != nil {
				return err
			}
			baseURL, err := o.http()
			if err != nil {
				return err
			}
			c, err := o.creds(cmd)
			if err != nil {
				return err
			}
			hc := bench.NewHTTPClient(cfg.Concurrency)
			defer hc.CloseIdleConnections()
			tok, err := bench.FetchToken(cmd.Context(), hc, baseURL, c)
			if err != nil {
				return err
			}
			title := fmt.Sprintf("bench api: %s", baseURL)
			return o.run(cmd, cfg, "api", title, "requests", bench.APIOp(hc, baseURL, c.ClientID, tok))
		},
	}
	o.registerConn(cmd)
	o.register(cmd, 16)
	return cmd
}

func newBenchSignCommand() *cobra.Command {
	o := &benchOptions{}
	var alg string
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Measure this machine's signing rate over all cores (RS256 unless --alg)",
		Long: `Sign a typical access token with a fresh key from one goroutine per CPU,
with no network involved: the ceiling of what a data center on this machine
can issue. The key is RSA-2048 (RS256, the default signing algorithm) unless
--alg names ES256 (P-256) or EdDSA (Ed25519), the other algorithms serve
--signing-alg takes. Every token response carries two signatures (the access
token and the ID token), so the token endpoint's ceiling is half the rate
shown. In --json, rps is signatures per second.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.config(cmd)
			if err != nil {
				return err
			}
			op, err := bench.SignOp(alg)
			if err != nil {
				return fmt.Errorf("--alg: %w", err)
			}
			title := fmt.Sprintf("bench sign: %s, %d goroutines", alg, cfg.Concurrency)
			return o.run(cmd, cfg, "sign", title, "signatures", op)
		},
	}
	o.register(cmd, runtime.NumCPU())
	cmd.Flags().StringVar(&alg, "alg", "RS256", "signature algorithm: RS256, ES256 or EdDSA")
	return cmd
}

// run runs op and reports: the summary on stdout, the plot to its file.
// Ctrl-C ends the run early but still reports what was measured.
func (o *benchOptions) run(cmd *cobra.Command, cfg bench.Config, name, title, unit string, op bench.Op) error {
	// Check the plot file can be written before spending the run on it.
	var plot *os.File
	if o.plot != "" {
		f, err := os.Create(o.plot)
		if err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
		plot = f
		defer plot.Close()
	}
	res, err := bench.Run(cmd.Context(), cfg, op)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if o.json {
		err = writeCompactJSON(out, bench.Summarize(name, res))
	} else {
		err = bench.WriteText(out, "gatehouse bench "+name, unit, res)
	}
	if err != nil {
		return err
	}
	if plot != nil {
		if err := bench.WritePlot(plot, title, res.Series); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
		if err := plot.Close(); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
	}
	if res.Errors > 0 {
		return fmt.Errorf("%d of %d %s failed", res.Errors, res.Requests, unit)
	}
	return nil
}

// writeCompactJSON prints v as one line, the form a script reading many
// runs' output line by line wants.
func writeCompactJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
