//go:build unix

package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// devTable is what gatehouse dev printed: one row per data center, and the
// locator's URL.
type devTable struct {
	rows    []devRow
	locator string // base URL
}

type devRow struct {
	id, url, clientID, file string
}

// freePortRun finds n consecutive free loopback ports and returns the
// first. Like freePort, it only probes: another process may take one
// before gatehouse dev binds it, which startDev handles by retrying.
func freePortRun(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		base := freePort(t)
		if base+n > 65535 {
			continue
		}
		var held []net.Listener
		ok := true
		for p := base; p < base+n; p++ {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			held = append(held, ln)
		}
		for _, ln := range held {
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("found no %d consecutive free ports", n)
	return 0
}

// startDev runs gatehouse dev for eu8 and us5 and waits for its table,
// retrying on other ports when one was taken in the meantime.
func startDev(t *testing.T, dir string) (*server, devTable, int) {
	t.Helper()
	const attempts = 5
	for i := 1; ; i++ {
		base := freePortRun(t, 3) // two data centers and the locator
		cmd := exec.Command(binPath, "dev", "--datacenters", "eu8,us5", "--dir", dir, "--base-port", strconv.Itoa(base))
		cmd.Env = []string{} // nothing from the test's own environment
		p := &server{DataDir: dir}
		p.spawn(t, cmd)
		table, err := waitTable(p)
		if err == nil {
			return p, table, base
		}
		if errors.Is(err, errPortTaken) && i < attempts {
			t.Logf("a port of %d..%d was taken, retrying (%d/%d)", base, base+2, i, attempts)
			continue
		}
		t.Fatalf("gatehouse dev did not print its table: %v\nstdout:\n%s\nstderr:\n%s", err, p.stdout.String(), p.stderr.String())
	}
}

// waitTable waits until gatehouse dev has printed its whole table, which it
// does once every data center serves.
func waitTable(p *server) (devTable, error) {
	deadline := time.Now().Add(readyTimeout)
	for {
		out := p.stdout.String()
		if strings.Contains(out, "\nLOCATOR ") && strings.HasSuffix(out, "\n") {
			return parseDevTable(out)
		}
		if err := p.pause(50 * time.Millisecond); err != nil {
			return devTable{}, err
		}
		if time.Now().After(deadline) {
			p.kill()
			return devTable{}, fmt.Errorf("no table within %s", readyTimeout)
		}
	}
}

func parseDevTable(out string) (devTable, error) {
	var tab devTable
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 2 || strings.Join(strings.Fields(lines[0]), " ") != "DATACENTER URL BOOTSTRAP CLIENT ID CREDENTIALS FILE" {
		return tab, fmt.Errorf("no table header in %q", out)
	}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "LOCATOR" && len(f) == 2:
			u, err := url.Parse(f[1])
			if err != nil {
				return tab, fmt.Errorf("locator line %q: %v", line, err)
			}
			tab.locator = u.Scheme + "://" + u.Host
		case len(f) == 4:
			tab.rows = append(tab.rows, devRow{f[0], f[1], f[2], f[3]})
		default:
			return tab, fmt.Errorf("unexpected line %q", line)
		}
	}
	if tab.locator == "" {
		return tab, fmt.Errorf("no locator line in %q", out)
	}
	return tab, nil
}

// waitOK polls url until it answers 200.
func waitOK(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		res, err := httpClient.Get(u)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no 200 within %s (last: %v)", u, readyTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLocalCloud runs gatehouse dev as a developer does: two data centers
// and the locator come up on the promised ports, each data center has its
// own bootstrap client whose credentials are in a 0600 file the table
// names, tokens work where they were issued and are refused, naming their
// data center, elsewhere, the locator finds each client in its data
// center, and Ctrl-C stops everything with exit status 0.
func TestLocalCloud(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cloud")
	proc, tab, base := startDev(t, dir)

	if len(tab.rows) != 2 || tab.rows[0].id != "eu8" || tab.rows[1].id != "us5" {
		t.Fatalf("table rows %+v", tab.rows)
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d", base+2); tab.locator != want {
		t.Errorf("locator at %s, want %s", tab.locator, want)
	}
	dcs := map[string]*server{}
	boots := map[string]bootstrapFile{}
	for i, row := range tab.rows {
		if want := fmt.Sprintf("http://127.0.0.1:%d", base+i); row.url != want {
			t.Errorf("%s at %s, want %s", row.id, row.url, want)
		}
		if want := filepath.Join(dir, row.id, "bootstrap-client.json"); row.file != want {
			t.Errorf("%s credentials file %s, want %s", row.id, row.file, want)
		}
		fi, err := os.Stat(row.file)
		if err != nil {
			t.Fatalf("%s: %v", row.id, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: credentials file mode %v, want 0600", row.id, fi.Mode().Perm())
		}
		s := &server{URL: row.url, DataDir: filepath.Join(dir, row.id)}
		waitOK(t, s.URL+"/readyz")
		boot := s.bootstrapCreds(t)
		if boot.ClientID != row.clientID {
			t.Errorf("%s: table says client %s, file says %s", row.id, row.clientID, boot.ClientID)
		}
		dcs[row.id], boots[row.id] = s, boot
	}
	waitOK(t, tab.locator+"/healthz")
	if boots["eu8"].ClientID == boots["us5"].ClientID {
		t.Error("both data centers have the same bootstrap client")
	}
	eu, us := dcs["eu8"], dcs["us5"]

	// A token in each data center, used there.
	toks := map[string]string{}
	for id, s := range dcs {
		tok := s.token(t, boots[id].ClientID, boots[id].ClientSecret).AccessToken
		toks[id] = tok
		s.do(t, http.MethodGet, "/api/2/clients/"+boots[id].ClientID, bearer(tok), nil).Want(t, http.StatusOK, id+": own client with own token")
		r := s.do(t, http.MethodGet, "/api/2/datacenters", bearer(tok), nil)
		r.Want(t, http.StatusOK, id+": datacenters")
		var list datacenterList
		r.JSON(t, &list)
		if len(list.Items) != 2 || list.Items[0].ID != "eu8" || list.Items[1].ID != "us5" ||
			list.Items[0].URL != eu.URL || list.Items[1].URL != us.URL || list.Items[0].Self != (id == "eu8") {
			t.Errorf("%s lists %s", id, r.Body)
		}
	}
	// eu8's token at us5: refused, naming eu8.
	r := us.do(t, http.MethodGet, "/api/2/clients", bearer(toks["eu8"]), nil)
	r.Want(t, http.StatusUnauthorized, "eu8's token at us5")
	var e apiError
	r.JSON(t, &e)
	if e.Error.Code != "tokenIssuerMismatch" || !strings.Contains(e.Error.Message, "eu8 ("+eu.URL+")") || !strings.Contains(e.Error.Message, us.URL+"/bc") {
		t.Errorf("eu8's token at us5: %s", r.Body)
	}

	// The locator finds each bootstrap client in its own data center.
	loc := &server{URL: tab.locator}
	for id, s := range dcs {
		r := loc.do(t, http.MethodGet, "/api/1/accounts?login="+url.QueryEscape(boots[id].ClientID), "", nil)
		r.Want(t, http.StatusOK, "locate "+id+"'s client")
		var a struct {
			ServerURL    string `json:"server_url"`
			ID           *int64 `json:"id"`
			Login        string `json:"login"`
			DatacenterID string `json:"datacenter_id"`
		}
		r.JSON(t, &a)
		if a.ServerURL != s.URL || a.DatacenterID != id || a.Login != boots[id].ClientID || a.ID == nil || *a.ID != 0 {
			t.Errorf("locate %s's client: %s", id, r.Body)
		}
	}
	loc.do(t, http.MethodGet, "/api/1/accounts?login=nobody", "", nil).Want(t, http.StatusNotFound, "locate an unknown login")

	for _, s := range append([]*server{loc}, eu, us) {
		s.mu.Lock()
		proc.noteCred(s.creds...)
		s.mu.Unlock()
	}
	start := time.Now()
	if err := proc.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := proc.waitExit(t, 5*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGINT, want 0; stderr:\n%s", code, proc.stderr.String())
	}
	t.Logf("stopped %s after SIGINT", time.Since(start).Round(time.Millisecond))
	log := proc.stderr.String()
	if !strings.Contains(log, "local cloud stopped") || strings.Count(log, "gatehouse stopped") != 2 || !strings.Contains(log, "locator stopped") {
		t.Errorf("log does not show an orderly stop of everything:\n%s", log)
	}
	if strings.Contains(log, "level=ERROR") || strings.Contains(log, "level=WARN") {
		t.Errorf("a warning or error was logged:\n%s", log)
	}
}

// TestPeerFlags checks --peer and its twin GATEHOUSE_PEERS from outside:
// the peers reach the directory, the flag wins over the twin, and a
// directory that would make the mismatch messages lie stops the start with
// a one-line error.
func TestPeerFlags(t *testing.T) {
	t.Parallel()
	listPeers := func(t *testing.T, s *server) string {
		t.Helper()
		boot := s.bootstrapCreds(t)
		r := s.do(t, http.MethodGet, "/api/2/datacenters", bearer(s.token(t, boot.ClientID, boot.ClientSecret).AccessToken), nil)
		r.Want(t, http.StatusOK, "datacenters")
		var list datacenterList
		r.JSON(t, &list)
		var got []string
		for _, it := range list.Items {
			if !it.Self {
				got = append(got, it.ID+"="+it.URL)
			}
		}
		return strings.Join(got, " ")
	}
	t.Run("GATEHOUSE_PEERS", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, serverOpts{env: []string{"GATEHOUSE_PEERS=us5=https://us5.test, ap2=https://ap2.test/"}, args: []string{"--datacenter-id", "eu8"}})
		if got := listPeers(t, s); got != "ap2=https://ap2.test us5=https://us5.test" {
			t.Errorf("peers %q", got)
		}
	})
	t.Run("--peer wins over its twin", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, serverOpts{env: []string{"GATEHOUSE_PEERS=us5=https://us5.test"},
			args: []string{"--peer", "jp1=https://jp1.test", "--peer", "au2=https://au2.test"}})
		if got := listPeers(t, s); got != "au2=https://au2.test jp1=https://jp1.test" {
			t.Errorf("peers %q", got)
		}
	})

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"not ID=URL", nil, []string{"--peer", "us5"}, "want ID=URL"},
		{"listed twice", nil, []string{"--peer", "us5=https://a.test", "--peer", "us5=https://b.test"}, "peer us5 is listed twice"},
		{"twice in the twin", []string{"GATEHOUSE_PEERS=us5=https://a.test,us5=https://b.test"}, nil, "peer us5 is listed twice"},
		{"own URL", nil, []string{"--datacenter-url", "https://eu8.test", "--peer", "us5=https://eu8.test/"}, "own URL"},
		{"own id", nil, []string{"--datacenter-id", "eu8", "--peer", "eu8=https://b.test"}, "own id"},
		{"not a URL", nil, []string{"--peer", "us5=us5.test"}, "http or https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dataDir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir}, tc.args...)
			res := runCLI(t, tc.env, args...)
			if res.code != 1 || !strings.Contains(res.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", res.code, res.stderr, tc.want)
			}
			wantOneLine(t, res.stderr)
			// Refused before anything was written: no store, no master key.
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused start left %s behind (%v)", dataDir, err)
			}
		})
	}
}

// TestLocatorCommand runs gatehouse locator in front of a gatehouse serve
// process, as an operator deploys it.
func TestLocatorCommand(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{args: []string{"--datacenter-id", "eu8"}})
	boot := s.bootstrapCreds(t)
	var loc *server
	for i := 1; ; i++ {
		port := freePort(t)
		cmd := exec.Command(binPath, "locator", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--datacenter", "eu8="+s.URL, "--lookup-failure-limit", "1")
		// The test's client is the locator's trusted proxy, by the twin.
		cmd.Env = []string{"GATEHOUSE_TRUSTED_PROXIES=127.0.0.1"}
		loc = &server{URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
		loc.spawn(t, cmd)
		err := waitHealthy(loc)
		if err == nil {
			break
		}
		if errors.Is(err, errPortTaken) && i < 5 {
			continue
		}
		t.Fatalf("locator: %v\n%s", err, loc.stderr.String())
	}
	r := loc.do(t, http.MethodGet, "/api/1/accounts?login="+url.QueryEscape(boot.ClientID), "", nil)
	r.Want(t, http.StatusOK, "locate the bootstrap client")
	var a struct {
		ServerURL    string `json:"server_url"`
		DatacenterID string `json:"datacenter_id"`
	}
	r.JSON(t, &a)
	if a.ServerURL != s.URL || a.DatacenterID != "eu8" {
		t.Errorf("answer %s", r.Body)
	}
	loc.do(t, http.MethodGet, "/api/1/accounts?login=nobody", "", nil).Want(t, http.StatusNotFound, "unknown login")
	// That miss was the proxy's own, and used up its one. The callers
	// behind it are counted apart, by the address it forwards.
	asCaller := func(ip string) int {
		req, err := http.NewRequest(http.MethodGet, loc.URL+"/api/1/accounts?login=nobody", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Forwarded-For", ip)
		res, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for i, want := range []int{http.StatusNotFound, http.StatusTooManyRequests} {
		if got := asCaller("198.51.100.1"); got != want {
			t.Errorf("caller behind the proxy, lookup %d: %d, want %d", i+1, got, want)
		}
	}
	if got := asCaller("198.51.100.2"); got != http.StatusNotFound {
		t.Errorf("another caller behind the proxy: %d, want 404", got)
	}

	if err := loc.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := loc.waitExit(t, 5*time.Second); code != 0 {
		t.Errorf("exit %d after SIGINT; stderr:\n%s", code, loc.stderr.String())
	}

	res := runCLI(t, nil, "locator", "--listen", "127.0.0.1:0")
	if res.code != 1 || !strings.Contains(res.stderr, "no data centers") {
		t.Errorf("without data centers: exit %d, %q", res.code, res.stderr)
	}
	wantOneLine(t, res.stderr)
	res = runCLI(t, nil, "locator", "--listen", "127.0.0.1:0", "--datacenter", "eu8=http://eu8.test", "--trusted-proxies", "10.0.0.0/8,nonsense")
	if res.code != 1 || !strings.Contains(res.stderr, "--trusted-proxies") {
		t.Errorf("with a bad trusted proxy: exit %d, %q", res.code, res.stderr)
	}
	wantOneLine(t, res.stderr)
	res = runCLI(t, nil, "dev", "--datacenters", "eu8,eu8", "--dir", t.TempDir())
	if res.code != 1 || !strings.Contains(res.stderr, "eu8 is listed twice") {
		t.Errorf("dev with eu8 twice: exit %d, %q", res.code, res.stderr)
	}
	wantOneLine(t, res.stderr)
}

// waitHealthy waits for a locator's /healthz.
func waitHealthy(p *server) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		if res, err := httpClient.Get(p.URL + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := p.pause(50 * time.Millisecond); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no 200 from %s/healthz within %s", p.URL, readyTimeout)
		}
	}
}
