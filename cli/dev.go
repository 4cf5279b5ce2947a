package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/datacenter"
	"github.com/gatehouse-dev/gatehouse/locator"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/token"
)

type devOptions struct {
	datacenters []string
	dir         string
	basePort    int
	logFormat   string
	logLevel    string
	signingAlg  string
}

func newDevCommand() *cobra.Command {
	o := &devOptions{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local multi-datacenter cloud: several data centers and the locator",
		Long: `Run a whole cloud on this machine: one data center per id given to
--datacenters, each exactly what gatehouse serve runs, on its own port with
its own SQLite store, master key and bootstrap credentials under
<dir>/<id>/, each knowing the others as peers; plus the global locator.

Data center i listens on 127.0.0.1:<base-port + i> and its URL is
http://127.0.0.1:<port>; the locator listens on the port after the last
data center's. Port 0 picks free ports instead. A data center's URL is its
tokens' issuer, so keep --base-port across runs on the same --dir for
earlier tokens to stay valid.

When everything is up, a table on stdout lists each data center's URL, its
bootstrap client id and the file holding that client's credentials (mode
0600; the secret is never printed). Ctrl-C stops everything cleanly.`,
		Example: `  gatehouse dev --datacenters eu8,us5
  jq -r .client_id gatehouse-dev/eu8/bootstrap-client.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.datacenters, "datacenters", []string{"eu8", "us5"}, "ids of the data centers to run, comma-separated")
	f.StringVar(&o.dir, "dir", "./gatehouse-dev", "directory holding one subdirectory of state per data center")
	f.IntVar(&o.basePort, "base-port", 8080, "port of the first data center; the others and the locator follow (0: free ports)")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.signingAlg, "signing-alg", datacenter.DefaultSigningAlgorithm, "algorithm every data center signs tokens with: RS256, ES256 or EdDSA")
	return cmd
}

// devDC is one data center of the local cloud.
type devDC struct {
	gatehouse.Datacenter
	dataDir string
	ln      net.Listener
}

// exited is a component of the local cloud that has stopped.
type exited struct {
	name string
	err  error
}

func runDev(ctx context.Context, o *devOptions, stdout, stderr io.Writer) error {
	log, err := newLogger(stderr, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	ids, err := devIDs(o.datacenters)
	if err != nil {
		return err
	}
	if o.signingAlg == "" {
		o.signingAlg = datacenter.DefaultSigningAlgorithm
	}
	if _, err := token.ParseAlgorithm(o.signingAlg); err != nil {
		return fmt.Errorf("--signing-alg: %w", err)
	}
	if o.basePort < 0 || (o.basePort > 0 && o.basePort+len(ids) > 65535) {
		return fmt.Errorf("--base-port %d: the %d data centers and the locator need ports %d to %d", o.basePort, len(ids), o.basePort, o.basePort+len(ids))
	}
	// Every listener is opened before anything starts: each data center
	// must know its peers' URLs, which include the ports, and a port that
	// is taken is better refused before any store is opened.
	var listeners []net.Listener
	closeAll := func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}
	listen := func(i int, what string) (net.Listener, error) {
		port := 0
		if o.basePort > 0 {
			port = o.basePort + i
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("listen on %s for %s: %w", addr, what, err)
		}
		listeners = append(listeners, ln)
		return ln, nil
	}
	dcs := make([]devDC, len(ids))
	for i, id := range ids {
		ln, err := listen(i, "data center "+id)
		if err != nil {
			return err
		}
		dcs[i] = devDC{Datacenter: gatehouse.Datacenter{ID: id, URL: "http://" + ln.Addr().String()}, dataDir: filepath.Join(o.dir, id), ln: ln}
	}
	locLn, err := listen(len(ids), "the locator")
	if err != nil {
		return err
	}
	locURL := "http://" + locLn.Addr().String()
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		closeAll()
		return fmt.Errorf("--dir: %w", err)
	}

	var pairs []gatehouse.Datacenter
	for _, d := range dcs {
		pairs = append(pairs, d.Datacenter)
	}
	loc, err := newLocator(pairs, 0, ratelimit.NewMemory(ratelimit.Config{}), log.With("component", "locator"), nil)
	if err != nil {
		closeAll()
		return err
	}

	interrupted := ctx.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan exited, len(dcs)+1)
	started := make(chan string, len(dcs))
	for _, d := range dcs {
		var peers []gatehouse.Datacenter
		for _, p := range dcs {
			if p.ID != d.ID {
				peers = append(peers, p.Datacenter)
			}
		}
		cfg := datacenter.Defaults()
		cfg.ID, cfg.URL, cfg.DataDir, cfg.Listener = d.ID, d.URL, d.dataDir, d.ln
		cfg.SigningAlgorithm = o.signingAlg
		cfg.Peers = peers
		cfg.Logger = log.With("datacenter", d.ID)
		// A developer's GATEHOUSE_MASTER_KEY or bootstrap credentials would
		// otherwise be shared by every data center, and the bootstrap files
		// the table points at would not be written: none is read here, and
		// each data center's generated master key stays with its data.
		cfg.LocalMasterKey = true
		cfg.OnReady = func(*datacenter.DataCenter) { started <- d.ID }
		go func() { done <- exited{"data center " + d.ID, datacenter.Run(ctx, cfg)} }()
	}
	go func() {
		done <- exited{"the locator", serveLocator(ctx, loc, locLn, log.With("component", "locator"), pairs)}
	}()
	running := len(dcs) + 1

	// stop cancels everything still running and waits for it, so that no
	// store is left open when dev returns. A data center that failed
	// before serving has not closed its listener: closeAll does. Being
	// cancelled is how a component is told to stop, not a failure.
	stop := func(first error) error {
		cancel()
		errs := []error{first}
		for ; running > 0; running-- {
			if e := <-done; e.err != nil && !errors.Is(e.err, context.Canceled) {
				errs = append(errs, fmt.Errorf("%s: %w", e.name, e.err))
			}
		}
		closeAll()
		return errors.Join(errs...)
	}
	// wasInterrupted reports whether Ctrl-C came, which explains any
	// component stopping.
	wasInterrupted := func() bool {
		select {
		case <-interrupted:
			return true
		default:
			return false
		}
	}

	for waiting := len(dcs); waiting > 0; {
		select {
		case <-started:
			waiting--
		case e := <-done:
			running--
			if wasInterrupted() {
				return stop(nil) // Ctrl-C while starting
			}
			if e.err == nil {
				e.err = errors.New("stopped unexpectedly")
			}
			return stop(fmt.Errorf("%s: %w", e.name, e.err))
		}
	}

	printDevTable(stdout, dcs, locURL)
	log.Info("local cloud running; press Ctrl-C to stop it", "datacenters", strings.Join(ids, ","), "locator", locURL)

	select {
	case <-interrupted:
		err := stop(nil)
		if err == nil {
			log.Info("local cloud stopped")
		}
		return err
	case e := <-done:
		running--
		if e.err == nil {
			e.err = errors.New("stopped unexpectedly")
		}
		return stop(fmt.Errorf("%s: %w", e.name, e.err))
	}
}

// devIDs checks the --datacenters list: ids become directory names and
// peer ids, so they follow the data-center id rules and are distinct.
func devIDs(list []string) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	for _, id := range list {
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		if !gatehouse.ValidDatacenterID(id) {
			return nil, fmt.Errorf("--datacenters: %q is not a data center id: 1 to 63 letters, digits, dots, dashes or underscores, starting with a letter or digit", id)
		}
		if seen[id] {
			return nil, fmt.Errorf("--datacenters: %s is listed twice", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, errors.New("--datacenters: give at least one data center id, for example eu8,us5")
	}
	return ids, nil
}

// printDevTable prints where everything is. The bootstrap client's id is
// read from its credentials file, which is named, never printed: the
// secret stays in the file.
func printDevTable(w io.Writer, dcs []devDC, locURL string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DATACENTER\tURL\tBOOTSTRAP CLIENT ID\tCREDENTIALS FILE")
	for _, d := range dcs {
		file := filepath.Join(d.dataDir, datacenter.BootstrapFile)
		id := "-"
		if b, err := os.ReadFile(file); err != nil {
			file += " (missing: moved to a secret store?)"
		} else {
			var cred struct {
				ClientID string `json:"client_id"`
			}
			if json.Unmarshal(b, &cred) == nil && cred.ClientID != "" {
				id = cred.ClientID
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.ID, d.URL, id, file)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nLOCATOR  %s%s?login=<client_id>\n", locURL, locator.Path)
}
