package cli_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gh "github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/cli"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/service"
)

// benchDC is a real data center (service, SQLite store, HTTP server) on a
// loopback listener: the load tool is only worth testing against the real
// thing. It is the tests' in-process data center, internal/testdc.
type benchDC struct {
	URL        string
	id, secret string
	svc        *service.Service
}

func newBenchDC(t *testing.T) *benchDC {
	t.Helper()
	dc := testdc.Start(t, testdc.Options{AdminID: "bench-admin"})
	d := &benchDC{URL: dc.URL, id: dc.Admin.ID, secret: dc.Admin.Secret, svc: dc.Svc}
	// Nothing from the environment may leak into the commands under test.
	t.Setenv("GATEHOUSE_DATACENTER_URL", d.URL)
	t.Setenv("GATEHOUSE_CLIENT_ID", d.id)
	t.Setenv("GATEHOUSE_CLIENT_SECRET", d.secret)
	return d
}

// createClient makes another API client through the account API.
func (d *benchDC) createClient(t *testing.T) api.Client {
	t.Helper()
	return d.request(t, http.MethodPost, "/api/2/clients", `{"type":"api_client"}`, http.StatusCreated)
}

func (d *benchDC) getClient(t *testing.T, id string) api.Client {
	t.Helper()
	return d.request(t, http.MethodGet, "/api/2/clients/"+id, "", http.StatusOK)
}

func (d *benchDC) request(t *testing.T, method, path, body string, want int) api.Client {
	t.Helper()
	issued, err := d.svc.IssueToken(t.Context(), service.ClientCredentials{ClientID: d.id, Secret: d.secret, Method: gh.AuthSecretBasic, RemoteIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, d.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+issued.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var c api.Client
	if res.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d", method, path, res.StatusCode, want)
	}
	if err := json.NewDecoder(res.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// benchSummary is the --json output.
type benchSummary struct {
	Name           string           `json:"name"`
	Requests       int64            `json:"requests"`
	Errors         int64            `json:"errors"`
	ErrorsByStatus map[string]int64 `json:"errors_by_status"`
	DurationS      float64          `json:"duration_s"`
	RPS            float64          `json:"rps"`
	P50MS          *float64         `json:"p50_ms"`
	P90MS          *float64         `json:"p90_ms"`
	P99MS          *float64         `json:"p99_ms"`
	MaxMS          *float64         `json:"max_ms"`
}

func runBench(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Main(t.Context(), append([]string{"bench"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func benchJSON(t *testing.T, out string) benchSummary {
	t.Helper()
	if strings.Count(out, "\n") != 1 {
		t.Errorf("--json printed %d lines, want one JSON object on one line:\n%s", strings.Count(out, "\n"), out)
	}
	var s benchSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	if s.P50MS == nil || s.P90MS == nil || s.P99MS == nil || s.MaxMS == nil || s.ErrorsByStatus == nil {
		t.Errorf("--json lacks a latency key or errors_by_status: %s", out)
	}
	return s
}

func checkRun(t *testing.T, s benchSummary, requests int64) {
	t.Helper()
	if s.Requests != requests || s.Errors != 0 || s.RPS <= 0 || len(s.ErrorsByStatus) != 0 || s.DurationS <= 0 {
		t.Errorf("summary %+v: want %d requests, no errors, rps > 0", s, requests)
	}
	if !(*s.P50MS > 0 && *s.P50MS <= *s.P90MS && *s.P90MS <= *s.P99MS && *s.P99MS <= *s.MaxMS) {
		t.Errorf("latencies out of order: p50 %v p90 %v p99 %v max %v", *s.P50MS, *s.P90MS, *s.P99MS, *s.MaxMS)
	}
}

func TestBenchTokensEndToEnd(t *testing.T) {
	newBenchDC(t)
	plot := filepath.Join(t.TempDir(), "tokens.svg")
	code, out, errOut := runBench(t, "tokens", "--requests", "200", "--concurrency", "8", "--json", "--plot", plot)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	s := benchJSON(t, out)
	if s.Name != "tokens" {
		t.Errorf("name %q", s.Name)
	}
	checkRun(t, s, 200)
	if errOut != "" {
		t.Errorf("stderr is not a terminal, yet something was written to it: %q", errOut)
	}
	b, err := os.ReadFile(plot)
	if err != nil || !bytes.HasPrefix(b, []byte("<?xml")) || !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("--plot wrote %d bytes (%v), want an SVG file", len(b), err)
	}
}

func TestBenchAPIEndToEnd(t *testing.T) {
	newBenchDC(t)
	code, out, errOut := runBench(t, "api", "--requests", "200", "--concurrency", "8", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	s := benchJSON(t, out)
	if s.Name != "api" {
		t.Errorf("name %q", s.Name)
	}
	checkRun(t, s, 200)
}

func TestBenchSign(t *testing.T) {
	for _, alg := range []string{"", "RS256", "ES256", "EdDSA"} {
		t.Run("alg="+alg, func(t *testing.T) {
			// The default runs for a duration, the others for a count.
			args := []string{"sign", "--duration", "1s", "--json"}
			if alg != "" {
				args = []string{"sign", "--requests", "500", "--json", "--alg", alg}
			}
			code, out, errOut := runBench(t, args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			s := benchJSON(t, out)
			if s.Name != "sign" || s.RPS <= 0 || s.Requests <= 0 || s.Errors != 0 {
				t.Errorf("sign summary %+v: want signatures per second > 0", s)
			}
			if alg == "" && (s.DurationS < 0.9 || s.DurationS > 1.5) {
				t.Errorf("--duration 1s ran %.3fs", s.DurationS)
			}
			if alg != "" && s.Requests != 500 {
				t.Errorf("--requests 500 made %d", s.Requests)
			}
			t.Logf("%s: %.0f signatures/s", alg, s.RPS)
		})
	}
}

// With --credentials the requests spread over the clients of the file, and
// failures are counted by status and make the command exit 1.
func TestBenchTokensCredentialsFile(t *testing.T) {
	d := newBenchDC(t)
	other := d.createClient(t)
	t.Setenv("GATEHOUSE_CLIENT_ID", "")
	t.Setenv("GATEHOUSE_CLIENT_SECRET", "")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	lines := `{"client_id":"` + d.id + `","client_secret":"` + d.secret + `"}` + "\n" +
		`{"client_id":"` + other.ClientID + `","client_secret":"` + other.ClientSecret + `","tenant_id":"` + other.TenantID + `"}` + "\n"
	if err := os.WriteFile(good, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runBench(t, "tokens", "--credentials", good, "--requests", "100", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	checkRun(t, benchJSON(t, out), 100)
	// 100 picks of two clients: both were used (odds of not: 2^-99).
	if c := d.getClient(t, other.ClientID); c.LastAccessAt == nil {
		t.Error("the second client of the file was never used")
	}

	// A JSON array with one wrong secret: the first (checked before the run)
	// is fine, the other fails with 401 (or 429 once the server's limit on
	// failed authentications kicks in).
	bad := filepath.Join(dir, "bad.json")
	arr := `[{"client_id":"` + d.id + `","client_secret":"` + d.secret + `"},{"client_id":"` + other.ClientID + `","client_secret":"wrong"}]`
	if err := os.WriteFile(bad, []byte(arr), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runBench(t, "tokens", "--credentials", bad, "--requests", "100", "--json")
	s := benchJSON(t, out)
	if code != 1 || !strings.Contains(errOut, "of 100 requests failed") {
		t.Errorf("exit %d, stderr %q; want exit 1 and a count of failures", code, errOut)
	}
	var byStatus int64
	for _, n := range s.ErrorsByStatus {
		byStatus += n
	}
	if s.Requests != 100 || s.Errors == 0 || s.ErrorsByStatus["401"] == 0 || byStatus != s.Errors {
		t.Errorf("summary %+v: want 100 requests, some 401s, errors_by_status adding up to errors", s)
	}
}

// The text summary names what an operator needs.
func TestBenchTextSummary(t *testing.T) {
	newBenchDC(t)
	code, out, errOut := runBench(t, "api", "--requests", "50", "--concurrency", "2")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"Requests:", "Errors:", "Throughput:", "Latency p50:", "Latency p90:", "Latency p99:", "Latency max:"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchErrors(t *testing.T) {
	d := newBenchDC(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"wrong secret", map[string]string{"GATEHOUSE_CLIENT_SECRET": d.secret + "x"}, []string{"tokens"}, "fetch token: 401"},
		{"missing id", map[string]string{"GATEHOUSE_CLIENT_ID": ""}, []string{"api"}, "missing client ID"},
		{"missing secret", map[string]string{"GATEHOUSE_CLIENT_SECRET": ""}, []string{"tokens"}, "or give --credentials FILE"},
		{"no bound", nil, []string{"tokens", "--duration", "0"}, "a run must end by itself"},
		{"zero concurrency", nil, []string{"api", "--concurrency", "0"}, "--concurrency must be at least 1"},
		{"bad URL", nil, []string{"api", "--url", "localhost:8080"}, "--url:"},
		{"no credentials file", nil, []string{"tokens", "--credentials", filepath.Join(t.TempDir(), "none")}, "--credentials:"},
		{"unknown algorithm", nil, []string{"sign", "--requests", "1", "--alg", "HS256"}, "--alg:"},
		{"unwritable plot", nil, []string{"sign", "--requests", "1", "--plot", filepath.Join(t.TempDir(), "no", "dir.svg")}, "--plot:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runBench(t, tc.args...)
			if code != 1 || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, tc.want)
			}
			if strings.Contains(errOut, d.secret) {
				t.Error("stderr contains the secret")
			}
		})
	}
}

func TestBenchHelpDoesNotShowSecret(t *testing.T) {
	d := newBenchDC(t)
	for _, sub := range []string{"tokens", "api"} {
		code, out, _ := runBench(t, sub, "--help")
		if code != 0 || !strings.Contains(out, "--client-secret") {
			t.Fatalf("bench %s --help: exit %d\n%s", sub, code, out)
		}
		if strings.Contains(out, d.secret) {
			t.Errorf("bench %s --help shows the secret", sub)
		}
	}
}
