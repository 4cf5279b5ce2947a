package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/httpedge"
	"github.com/gatehouse-dev/gatehouse/locator"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
)

// parsePairs reads the ID=URL values of --peer or --datacenter. Whether
// the ids and URLs are acceptable (valid, distinct) is decided by the code
// that uses them, service.New and locator.New, so that the rules live in
// one place each.
func parsePairs(flag string, values []string) ([]gatehouse.Datacenter, error) {
	out := make([]gatehouse.Datacenter, 0, len(values))
	for _, v := range values {
		dc, err := gatehouse.ParseDatacenter(v)
		if err != nil {
			return nil, fmt.Errorf("%s %w", flag, err)
		}
		out = append(out, dc)
	}
	return out, nil
}

// envList reads a comma-separated list default from the environment (the
// twin of a repeatable flag); blank items are dropped.
func envList(name string) []string {
	var out []string
	for _, v := range strings.Split(os.Getenv(name), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

type locatorOptions struct {
	listen      string
	datacenters []string
	timeout     time.Duration
	limit       int
	window      time.Duration
	trusted     string
	logFormat   string
	logLevel    string
	envErr      envErrors
}

func newLocatorCommand() *cobra.Command {
	o := &locatorOptions{envErr: envErrors{}}
	cmd := &cobra.Command{
		Use:   "locator",
		Short: "Run the global locator of a multi-datacenter cloud",
		Long: `Run the global locator: GET /api/1/accounts?login=<client_id> answers which
data center holds an API client, in the platform's shape
{"server_url":...,"id":0,"login":...} plus "datacenter_id", or 404.

It asks every data center given by --datacenter ID=URL at once (each answers
the same route for its own clients) and answers with the first listed that
knows the login. When none does but some could not be asked, it answers 503
(502 if they gave answers that are not the route's) rather than a 404 that
may be wrong.

Lookups of unknown logins are limited per caller address, as on the data
centers. Behind a load balancer, list it in --trusted-proxies, as for
gatehouse serve: its X-Forwarded-For then names the caller, whose misses
are counted and whose address is passed on. Each lookup the locator forwards is a miss in all data centers but
one, and comes from the locator's address; it carries the caller's address
in X-Forwarded-For, so list the locator in the data centers'
--trusted-proxies to have them count misses per caller rather than against
the locator.

Every flag has an environment twin (GATEHOUSE_LOCATOR_LISTEN,
GATEHOUSE_LOCATOR_DATACENTERS as comma-separated ID=URL pairs,
GATEHOUSE_LOCATOR_TIMEOUT, GATEHOUSE_LOCATOR_FAILURE_LIMIT,
GATEHOUSE_LOCATOR_FAILURE_WINDOW, GATEHOUSE_TRUSTED_PROXIES,
GATEHOUSE_LOG_FORMAT, GATEHOUSE_LOG_LEVEL);
a flag wins over its twin.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.envErr.check(cmd); err != nil {
				return err
			}
			return runLocator(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", envString("GATEHOUSE_LOCATOR_LISTEN", "127.0.0.1:8090"), "address to listen on (host:port)")
	f.StringArrayVar(&o.datacenters, "datacenter", envList("GATEHOUSE_LOCATOR_DATACENTERS"), "a data center to ask, as ID=URL; repeat for each")
	f.DurationVar(&o.timeout, "timeout", envDuration("GATEHOUSE_LOCATOR_TIMEOUT", locator.DefaultTimeout, "timeout", o.envErr), "how long to wait for each data center's answer")
	f.IntVar(&o.limit, "lookup-failure-limit", envInt("GATEHOUSE_LOCATOR_FAILURE_LIMIT", ratelimit.DefaultLimit, "lookup-failure-limit", o.envErr), "lookups of unknown logins allowed per address in each window")
	f.DurationVar(&o.window, "lookup-failure-window", envDuration("GATEHOUSE_LOCATOR_FAILURE_WINDOW", ratelimit.DefaultWindow, "lookup-failure-window", o.envErr), "the window of --lookup-failure-limit")
	f.StringVar(&o.trusted, "trusted-proxies", envString("GATEHOUSE_TRUSTED_PROXIES", ""), "comma-separated addresses or CIDR prefixes of load balancers whose X-Forwarded-For names the caller (lookup limits, the address passed on)")
	f.StringVar(&o.logFormat, "log-format", envString("GATEHOUSE_LOG_FORMAT", "text"), "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", envString("GATEHOUSE_LOG_LEVEL", "info"), "log level: debug, info, warn or error")
	return cmd
}

func runLocator(ctx context.Context, o *locatorOptions, stderr io.Writer) error {
	log, err := newLogger(stderr, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	if o.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", o.timeout)
	}
	if o.limit < 1 || o.window <= 0 {
		return fmt.Errorf("--lookup-failure-limit must be at least 1 and --lookup-failure-window positive")
	}
	trusted, err := httpedge.ParseTrustedProxies(o.trusted)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	pairs, err := parsePairs("--datacenter", o.datacenters)
	if err != nil {
		return err
	}
	if len(pairs) == 0 {
		return fmt.Errorf("no data centers: give --datacenter ID=URL for each (or GATEHOUSE_LOCATOR_DATACENTERS)")
	}
	l, err := newLocator(pairs, o.timeout, ratelimit.NewMemory(ratelimit.Config{Limit: o.limit, Window: o.window}), log, trusted)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	defer ln.Close()
	return serveLocator(ctx, l, ln, log, pairs)
}

func newLocator(dcs []gatehouse.Datacenter, timeout time.Duration, lim gatehouse.Limiter, log *slog.Logger, trusted []netip.Prefix) (*locator.Locator, error) {
	l, err := locator.New(locator.Config{Datacenters: dcs, Timeout: timeout, Limiter: lim, Logger: log, TrustedProxies: trusted})
	if err != nil {
		return nil, fmt.Errorf("--datacenter: %w", err)
	}
	return l, nil
}

// serveLocator serves until ctx ends; gatehouse locator and gatehouse dev
// share it, so the two log and stop alike.
func serveLocator(ctx context.Context, l *locator.Locator, ln net.Listener, log *slog.Logger, dcs []gatehouse.Datacenter) error {
	ids := make([]string, 0, len(dcs))
	for _, dc := range dcs {
		ids = append(ids, dc.ID)
	}
	log.Info("locator listening", "addr", ln.Addr().String(), "datacenters", strings.Join(ids, ","))
	err := l.Serve(ctx, ln, 5*time.Second)
	log.Info("locator stopped")
	return err
}
