package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	// Imported for the test cache only: the binary under test is built by
	// TestMain, out of sight of go test, so without this import a change to
	// the product would not invalidate cached e2e results.
	_ "github.com/gatehouse-dev/gatehouse/cli"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// binPath is the gatehouse binary built once by TestMain.
var binPath string

// Timeouts. They are generous because a loaded CI machine running the
// race detector can be slow; a healthy run never comes near them.
const (
	readyTimeout = 20 * time.Second // start to /readyz 200
	exitTimeout  = 10 * time.Second // a refusal or a signal to process exit
	cliTimeout   = 30 * time.Second // one CLI invocation
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

// runMain builds the binary into a temporary directory and removes it
// afterwards; it is a function of its own so that the deferred removal
// runs before os.Exit.
func runMain(m *testing.M) int {
	flag.Parse() // for testing.Verbose
	dir, err := os.MkdirTemp("", "gatehouse-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	binPath = filepath.Join(dir, "gatehouse")
	if runtime.GOOS == "windows" {
		binPath += ".exe"
	}
	goTool, err := goCommand()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	// The build inherits this process's environment (GOCACHE, GOFLAGS,
	// proxies), unlike the binaries under test, which get an explicit one.
	build := exec.Command(goTool, "build", "-o", binPath, "github.com/gatehouse-dev/gatehouse/cmd/gatehouse")
	var out bytes.Buffer
	build.Stdout, build.Stderr = &out, &out
	start := time.Now()
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building gatehouse: %v\n%s", err, out.Bytes())
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "e2e: built %s in %s\n", binPath, time.Since(start).Round(time.Millisecond))
	}
	return m.Run()
}

// goCommand finds the go tool of the toolchain running the tests, so that
// the binary is built by the same Go version, falling back to PATH.
func goCommand() (string, error) {
	name := "go"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	//lint:ignore SA1019 GOROOT is what we want here: the toolchain of this test binary.
	if root := runtime.GOROOT(); root != "" {
		p := filepath.Join(root, "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go tool in GOROOT or PATH: %w", err)
	}
	return p, nil
}

// httpClient talks to every server under test. Keep-alives are off so that
// no pooled connection to a killed server is reused against its successor
// on the same port (a POST on such a connection fails with EOF rather than
// being retried); the cost, one TCP handshake on loopback per request, is
// negligible.
var httpClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
}

// serverOpts configure one gatehouse serve process.
type serverOpts struct {
	dataDir string   // "" means a fresh directory that does not exist yet
	port    int      // 0 means a free port chosen at start
	env     []string // the process's whole environment, KEY=VALUE
	args    []string // flags after serve --listen --data-dir
}

// server is one running gatehouse serve process.
type server struct {
	URL     string // http://127.0.0.1:PORT
	Port    int
	DataDir string

	cmd    *exec.Cmd
	stderr *testkit.SyncBuffer
	stdout *testkit.SyncBuffer
	done   chan struct{} // closed when the process has exited and been reaped
	state  *os.ProcessState

	mu    sync.Mutex
	creds []string // secrets and tokens that must never reach the log
}

var errPortTaken = errors.New("port taken")

// startServer starts gatehouse serve and waits until /readyz answers 200.
// A port picked here may be grabbed by someone else between our probe and
// the server's bind, so a start that fails with "address already in use"
// is retried, on a new port if we chose it, on the same one after a pause
// if the caller fixed it (a restart on the port of a killed server).
func startServer(t *testing.T, opts serverOpts) *server {
	t.Helper()
	if opts.dataDir == "" {
		// A directory that does not exist yet, so the server's own
		// MkdirAll (and its 0700) is exercised.
		opts.dataDir = filepath.Join(t.TempDir(), "data")
	}
	const attempts = 5
	for i := 1; ; i++ {
		port := opts.port
		if port == 0 {
			port = freePort(t)
		}
		s := launch(t, opts, port)
		err := s.waitReady()
		if err == nil {
			return s
		}
		if errors.Is(err, errPortTaken) && i < attempts {
			t.Logf("port %d was taken, retrying (%d/%d)", port, i, attempts)
			if opts.port != 0 {
				time.Sleep(200 * time.Millisecond)
			}
			continue
		}
		t.Fatalf("gatehouse serve did not become ready: %v\nstderr:\n%s", err, s.stderr.String())
	}
}

// freePort asks the kernel for a free loopback port and releases it.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// launch starts the process without waiting for it. Its cleanup (see
// spawn) checks for leaked credentials: every test that starts a server
// therefore also checks for them.
func launch(t *testing.T, opts serverOpts, port int) *server {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := append([]string{"serve", "--listen", addr, "--data-dir", opts.dataDir}, opts.args...)
	cmd := exec.Command(binPath, args...)
	// Non-nil, so the child gets exactly this and nothing from the test's
	// own environment (a developer's GATEHOUSE_* must not leak in).
	cmd.Env = append([]string{}, opts.env...)
	s := &server{URL: "http://" + addr, Port: port, DataDir: opts.dataDir}
	s.spawn(t, cmd)
	return s
}

// spawn starts cmd as s's process, its output in s's buffers, and reaps it
// when it exits. The test's cleanup kills the process if it still runs,
// then checks that nothing registered as a credential reached its log.
func (s *server) spawn(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	s.cmd, s.stdout, s.stderr, s.done = cmd, &testkit.SyncBuffer{}, &testkit.SyncBuffer{}, make(chan struct{})
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		s.state = cmd.ProcessState
		close(s.done)
	}()
	t.Cleanup(func() {
		s.kill()
		s.checkLogClean(t)
	})
}

// pause waits d, unless the process exits first: then it says why,
// errPortTaken if its address was taken.
func (s *server) pause(d time.Duration) error {
	select {
	case <-s.done:
		if strings.Contains(s.stderr.String(), "address already in use") {
			return errPortTaken
		}
		return fmt.Errorf("process exited early: %v", s.state)
	case <-time.After(d):
		return nil
	}
}

// running reports whether the process has not exited yet.
func (s *server) running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func (s *server) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	for {
		if err := s.pause(50 * time.Millisecond); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("no 200 from %s/readyz within %s", s.URL, readyTimeout)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		res, err := httpClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		cancel()
		if err == nil && res.StatusCode == http.StatusOK {
			return nil
		}
	}
}

// kill sends SIGKILL (nothing runs in the process afterwards: no deferred
// close, no flush) and reaps it. It is a no-op on an exited process.
func (s *server) kill() {
	if s.running() {
		_ = s.cmd.Process.Kill()
	}
	<-s.done
}

// waitExit waits for the process to exit on its own and returns its exit
// code, failing the test if it runs longer than timeout.
func (s *server) waitExit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
		return s.state.ExitCode()
	case <-time.After(timeout):
		s.kill()
		t.Fatalf("process still running %s later; stderr:\n%s", timeout, s.stderr.String())
		return -1
	}
}

// waitLog waits until the log contains substr. The log of a running
// process arrives through a pipe copied by another goroutine, so a line
// written before the server answered a request may not be in the buffer
// yet when the answer is.
func (s *server) waitLog(t *testing.T, substr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.stderr.String(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("log does not contain %q:\n%s", substr, s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// noteCred registers a credential that must never appear in the log.
func (s *server) noteCred(c ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range c {
		if v != "" {
			s.creds = append(s.creds, v)
		}
	}
}

// jwtLike matches a compact JWS anywhere in a text. Our tokens are JWTs
// whose header starts with {" and therefore encodes to eyJ.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)

// checkLogClean fails the test if the (complete, the process having
// exited) log holds a registered credential or anything shaped like a
// token.
func (s *server) checkLogClean(t *testing.T) {
	t.Helper()
	log := s.stderr.String() + s.stdout.String()
	s.mu.Lock()
	creds := slices.Clone(s.creds)
	s.mu.Unlock()
	for _, c := range creds {
		if strings.Contains(log, c) {
			t.Errorf("server log contains a credential (%s...):\n%s", c[:min(6, len(c))], log)
		}
	}
	if m := jwtLike.FindString(log); m != "" {
		t.Errorf("server log contains something shaped like a token (%.20s...)", m)
	}
}

// bootstrapCreds reads the credentials the server generated on first start.
func (s *server) bootstrapCreds(t *testing.T) bootstrapFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.DataDir, "bootstrap-client.json"))
	if err != nil {
		t.Fatalf("bootstrap file: %v", err)
	}
	var bf bootstrapFile
	if err := json.Unmarshal(b, &bf); err != nil {
		t.Fatalf("bootstrap file %q: %v", b, err)
	}
	s.noteCred(bf.ClientSecret)
	return bf
}

// Wire shapes of docs/platform-api.md, declared here rather than imported
// from the api package: the tests check the contract, and a wrong struct
// tag shared by the server and the tests would go unnoticed.

type bootstrapFile struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	TenantID     string `json:"tenant_id"`
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	ExpiresOn   int64  `json:"expires_on"`
	IDToken     string `json:"id_token"`
}

type apiClient struct {
	ClientID                string `json:"client_id"`
	ClientSecret            string `json:"client_secret"`
	Type                    string `json:"type"`
	TenantID                string `json:"tenant_id"`
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method"`
	Status                  string `json:"status"`
	Data                    struct {
		ClientName string `json:"client_name"`
	} `json:"data"`
}

type clientList struct {
	Items []apiClient `json:"items"`
}

type datacenterList struct {
	Items []struct {
		ID   string `json:"id"`
		URL  string `json:"url"`
		Self bool   `json:"self"`
	} `json:"items"`
}

type secretResponse struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// do sends a request to the server; body is marshalled as JSON unless it is
// already a url.Values (then it is a form) or nil.
func (s *server) do(t *testing.T, method, path, authorization string, body any) testkit.Response {
	t.Helper()
	var rd io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, contentType = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, contentType = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return testkit.Do(t, httpClient, req)
}

func bearer(tok string) string { return "Bearer " + tok }

// tokenRequest asks for a token with Basic client authentication.
func (s *server) tokenRequest(t *testing.T, id, secret string) testkit.Response {
	t.Helper()
	s.noteCred(secret)
	return s.do(t, http.MethodPost, "/bc/idp/token", testkit.Basic(id, secret), url.Values{"grant_type": {"client_credentials"}})
}

// token gets a token for a client, failing the test otherwise.
func (s *server) token(t *testing.T, id, secret string) tokenResponse {
	t.Helper()
	r := s.tokenRequest(t, id, secret)
	r.Want(t, http.StatusOK, "token for "+id)
	var tr tokenResponse
	r.JSON(t, &tr)
	s.noteCred(tr.AccessToken, tr.IDToken)
	return tr
}

// wantInvalidClient checks that the token endpoint refuses the credentials
// the way RFC 6749 5.2 says: 401 invalid_client.
func (s *server) wantInvalidClient(t *testing.T, id, secret, what string) {
	t.Helper()
	r := s.tokenRequest(t, id, secret)
	r.Want(t, http.StatusUnauthorized, what)
	var e oauthError
	r.JSON(t, &e)
	if e.Error != "invalid_client" {
		t.Fatalf("%s: error %q, want invalid_client", what, e.Error)
	}
}

// createClient creates an API client as the caller behind tok.
func (s *server) createClient(t *testing.T, tok, name string) apiClient {
	t.Helper()
	r := s.do(t, http.MethodPost, "/api/2/clients", bearer(tok),
		map[string]any{"type": "api_client", "data": map[string]string{"client_name": name}})
	r.Want(t, http.StatusCreated, "create client "+name)
	var c apiClient
	r.JSON(t, &c)
	s.noteCred(c.ClientSecret)
	if c.ClientID == "" || c.ClientSecret == "" {
		t.Fatalf("create client %s: no id or secret in %s", name, r.Body)
	}
	return c
}

// getClient reads a client and returns the status of the answer with it.
func (s *server) getClient(t *testing.T, tok, id string) (apiClient, int) {
	t.Helper()
	r := s.do(t, http.MethodGet, "/api/2/clients/"+url.PathEscape(id), bearer(tok), nil)
	var c apiClient
	if r.Status == http.StatusOK {
		r.JSON(t, &c)
	}
	return c, r.Status
}

func (s *server) listClients(t *testing.T, tok string) []apiClient {
	t.Helper()
	r := s.do(t, http.MethodGet, "/api/2/clients", bearer(tok), nil)
	r.Want(t, http.StatusOK, "list clients")
	var l clientList
	r.JSON(t, &l)
	return l.Items
}

func (s *server) regenerate(t *testing.T, tok, id string) string {
	t.Helper()
	r := s.do(t, http.MethodPost, "/api/2/clients/"+url.PathEscape(id)+"/secret", bearer(tok), nil)
	r.Want(t, http.StatusOK, "regenerate secret of "+id)
	var sr secretResponse
	r.JSON(t, &sr)
	s.noteCred(sr.ClientSecret)
	if sr.ClientID != id || sr.ClientSecret == "" {
		t.Fatalf("regenerate secret of %s: answer %s", id, r.Body)
	}
	return sr.ClientSecret
}

func (s *server) jwksKids(t *testing.T) []string {
	t.Helper()
	r := s.do(t, http.MethodGet, "/bc/idp/keys", "", nil)
	r.Want(t, http.StatusOK, "JWKS")
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	r.JSON(t, &set)
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	slices.Sort(kids)
	if len(kids) == 0 {
		t.Fatalf("JWKS has no keys: %s", r.Body)
	}
	return kids
}

// claims decodes a JWT's payload without verifying it: the server verifies
// its own tokens, the tests only read what it put in them.
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return m
}

// audience returns a token's aud, which JWT allows as a string or a list.
func audience(t *testing.T, c map[string]any) []string {
	t.Helper()
	switch a := c["aud"].(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, v := range a {
			s, _ := v.(string)
			out = append(out, s)
		}
		return out
	}
	t.Fatalf("aud is %T %v", c["aud"], c["aud"])
	return nil
}

var jwtShape = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)

// checkTokenResponse checks a token answer against the wire contract.
func checkTokenResponse(t *testing.T, tr tokenResponse, ttl time.Duration) {
	t.Helper()
	if !strings.EqualFold(tr.TokenType, "bearer") {
		t.Errorf("token_type %q, want bearer", tr.TokenType)
	}
	if !jwtShape.MatchString(tr.AccessToken) || !jwtShape.MatchString(tr.IDToken) {
		t.Errorf("access_token or id_token is not a JWT: %+v", tr)
	}
	if tr.ExpiresIn != int64(ttl.Seconds()) {
		t.Errorf("expires_in %d, want %d", tr.ExpiresIn, int64(ttl.Seconds()))
	}
	// expires_on is absolute Unix seconds: about now+expires_in. The
	// window allows for iat being truncated to the second and for a slow
	// machine between issue and check, and still catches a relative value
	// or one in milliseconds.
	now := time.Now().Unix()
	if lo, hi := now+tr.ExpiresIn-30, now+tr.ExpiresIn+1; tr.ExpiresOn < lo || tr.ExpiresOn > hi {
		t.Errorf("expires_on %d, want about now+expires_in (%d..%d)", tr.ExpiresOn, lo, hi)
	}
}

// cliResult is what one CLI run produced.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the gatehouse binary with exactly env as its environment.
func runCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append([]string{}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("gatehouse %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("gatehouse %s: still running after %s", strings.Join(args, " "), cliTimeout)
	}
	return cliResult{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// wantOneLine checks that a refusal is one line, starting "gatehouse:".
func wantOneLine(t *testing.T, stderr string) {
	t.Helper()
	line := strings.TrimSuffix(stderr, "\n")
	if line == "" || strings.Contains(line, "\n") {
		t.Errorf("stderr is not exactly one line: %q", stderr)
	}
	if !strings.HasPrefix(line, "gatehouse: ") {
		t.Errorf("stderr does not start with \"gatehouse: \": %q", stderr)
	}
}
