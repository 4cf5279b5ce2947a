package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/bench"
	"github.com/gatehouse-dev/gatehouse/client"
)

type seedOptions struct {
	count       int
	credentials string
	batch       int
	namePrefix  string
	concurrency int
	tenantID    string
	force       bool
}

func (o *clientsOptions) seedCommand() *cobra.Command {
	s := &seedOptions{}
	cmd := &cobra.Command{
		Use:   "seed --count N --credentials FILE",
		Short: "Create many API clients for load tests and save their credentials",
		Long: `Create --count API clients through the account API, several at a time, and
write their credentials to --credentials FILE as JSON Lines, one
{"client_id":"…","client_secret":"…"} per line: the file that
'gatehouse bench tokens --credentials FILE' spreads its requests over.

The file is created with mode 0600, since it holds secrets, and must not
exist yet unless --force is given. It is written every --batch clients, so
it always holds the credentials of nearly every client created so far; if
a request fails, the command stops and the file holds every client created
until then. A client whose creation was in flight when the command was
interrupted may exist without its secret in the file.

Progress and the creation rate go to stderr. Creating clients needs the
tenant_admin role. Point it only at data centers you run.`,
		Args: cobra.NoArgs,
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := s.check(); err != nil {
			return err
		}
		// newClient checks the connection flags exactly as every other
		// clients command does; the client used is then rebuilt with a
		// transport that keeps a connection per worker (see seedHTTPClient).
		if _, err := o.conn.newClient(cmd); err != nil {
			return err
		}
		secret := o.conn.clientSecret
		if f := cmd.Flags().Lookup("client-secret"); f == nil || !f.Changed {
			secret = envString(secretEnv, "")
		}
		c, err := client.New(client.Config{
			DatacenterURL: o.conn.datacenterURL,
			ClientID:      o.conn.clientID,
			ClientSecret:  secret,
			HTTPClient:    seedHTTPClient(s.concurrency),
		})
		if err != nil {
			return fmt.Errorf("--datacenter-url: %w", err)
		}
		return s.run(cmd.Context(), c, cmd.ErrOrStderr())
	}
	f := cmd.Flags()
	f.IntVar(&s.count, "count", 0, "number of API clients to create")
	f.StringVar(&s.credentials, "credentials", "", "file to write the credentials to (JSON Lines, mode 0600)")
	f.IntVar(&s.batch, "batch", 1000, "write the credentials file every this many clients")
	f.StringVar(&s.namePrefix, "name-prefix", "seed-", "display names are this prefix and a number")
	f.IntVar(&s.concurrency, "concurrency", 8, "number of creation requests in flight at once")
	f.StringVar(&s.tenantID, "tenant-id", "", "tenant of the new clients (default: the caller's tenant)")
	f.BoolVar(&s.force, "force", false, "overwrite the credentials file if it exists")
	return cmd
}

func (s *seedOptions) check() error {
	switch {
	case s.count < 1:
		return fmt.Errorf("--count must be at least 1, got %d", s.count)
	case s.credentials == "":
		return errors.New("--credentials FILE is required: the secrets are shown nowhere else")
	case s.batch < 1:
		return fmt.Errorf("--batch must be at least 1, got %d", s.batch)
	case s.concurrency < 1:
		return fmt.Errorf("--concurrency must be at least 1, got %d", s.concurrency)
	}
	return nil
}

// seedHTTPClient keeps as many idle connections to the data center as
// there are workers. http.DefaultTransport keeps two per host, so with more
// workers every other request would open a connection and close it again,
// and a million requests would leave the machine's ephemeral ports in
// TIME_WAIT long before the end.
func seedHTTPClient(concurrency int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = max(tr.MaxIdleConns, concurrency)
	tr.MaxIdleConnsPerHost = concurrency
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// openCredentials creates the credentials file before any client is made,
// so that a bad path costs nothing. O_EXCL keeps a run from clobbering the
// secrets of an earlier one unless --force says so.
func (s *seedOptions) openCredentials() (*os.File, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if s.force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(s.credentials, flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("--credentials %s exists; pass --force to overwrite it", s.credentials)
	}
	if err != nil {
		return nil, fmt.Errorf("--credentials: %w", err)
	}
	// An existing file keeps its mode through O_TRUNC; secrets need 0600.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("--credentials: %w", err)
	}
	return f, nil
}

func (s *seedOptions) run(ctx context.Context, c *client.Client, stderr io.Writer) (err error) {
	file, err := s.openCredentials()
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(file, 64<<10)
	written := 0
	start := time.Now()
	// Whatever happens, the credentials of every client created so far end
	// up in the file: they exist nowhere else.
	defer func() {
		ferr := w.Flush()
		if serr := file.Sync(); ferr == nil {
			ferr = serr
		}
		if cerr := file.Close(); ferr == nil {
			ferr = cerr
		}
		if ferr != nil {
			ferr = fmt.Errorf("writing %s: %w", s.credentials, ferr)
		}
		if err != nil {
			err = fmt.Errorf("created %d of %d clients (their credentials are in %s): %w", written, s.count, s.credentials, errors.Join(err, ferr))
			return
		}
		err = ferr
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan bench.Credentials, s.concurrency*2)
	var (
		next     atomic.Int64 // the index of the next client to create
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	width := len(strconv.Itoa(s.count))
	for range s.concurrency {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(s.count) || ctx.Err() != nil {
					return
				}
				cred, err := s.create(ctx, c, fmt.Sprintf("%s%0*d", s.namePrefix, width, i+1))
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				results <- cred
			}
		})
	}
	go func() {
		wg.Wait()
		close(results)
	}()

	prog := newSeedProgress(stderr, s.count, start)
	tick := time.NewTicker(prog.every)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case cred, ok := <-results:
			if !ok {
				done = true
				break
			}
			b, _ := json.Marshal(cred) // two strings: cannot fail
			w.Write(append(b, '\n'))   // a write error sticks and surfaces at Flush
			written++
			if written%s.batch == 0 {
				if err := w.Flush(); err != nil {
					cancel()
					for range results { // let the workers finish and exit
					}
					return err
				}
			}
		case <-tick.C:
			prog.show(written)
		}
	}
	prog.done()
	switch {
	case firstErr != nil:
		return firstErr
	case written < s.count:
		// Only a cancelled context stops the workers without an error.
		return context.Cause(ctx)
	}
	fmt.Fprintf(stderr, "Created %d clients in %s (%.0f/s); their credentials are in %s (mode 0600).\n",
		written, time.Since(start).Round(time.Millisecond), float64(written)/time.Since(start).Seconds(), s.credentials)
	return nil
}

// create makes one client; the SDK already retries 429 and 503 answers.
func (s *seedOptions) create(ctx context.Context, c *client.Client, name string) (bench.Credentials, error) {
	data, _ := json.Marshal(map[string]string{"client_name": name})
	created, err := c.Accounts().Create(ctx, api.CreateClientRequest{Type: "api_client", TenantID: s.tenantID, Data: data})
	if err != nil {
		return bench.Credentials{}, err
	}
	if created.ClientID == "" || created.ClientSecret == "" {
		return bench.Credentials{}, errors.New("the data center answered a creation without credentials")
	}
	return bench.Credentials{ClientID: created.ClientID, ClientSecret: created.ClientSecret}, nil
}

// seedProgress shows the count and the rate: on a terminal as one line
// rewritten twice a second, elsewhere (a log file) as a line every 10 s.
type seedProgress struct {
	w     io.Writer
	total int
	start time.Time
	tty   bool
	every time.Duration
}

func newSeedProgress(w io.Writer, total int, start time.Time) *seedProgress {
	p := &seedProgress{w: w, total: total, start: start, tty: bench.IsTerminal(w), every: 10 * time.Second}
	if p.tty {
		p.every = 500 * time.Millisecond
	}
	return p
}

func (p *seedProgress) line(n int) string {
	el := time.Since(p.start)
	rate := float64(n) / el.Seconds()
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(p.total-n) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("seed: %d/%d clients (%.1f%%), %.0f/s, elapsed %s, ETA %s",
		n, p.total, 100*float64(n)/float64(p.total), rate, el.Round(time.Second), eta)
}

func (p *seedProgress) show(n int) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", p.line(n))
		return
	}
	fmt.Fprintln(p.w, p.line(n))
}

// done clears the progress line before the summary.
func (p *seedProgress) done() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
