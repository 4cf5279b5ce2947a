package metrics_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/server"
	"github.com/gatehouse-dev/gatehouse/service"
)

// dc is a data center with metrics on, wired as `gatehouse serve` wires
// it: the store instrumented, the service observed, /metrics served.
type dc struct {
	t     *testing.T
	URL   string
	svc   *service.Service
	admin service.BootstrapCredentials
}

func newDC(t *testing.T) *dc {
	t.Helper()
	d := testdc.Start(t, testdc.Options{})
	root, err := d.Store.RootTenant(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	admin := service.BootstrapCredentials{ClientID: d.Admin.ID, ClientSecret: d.Admin.Secret, TenantID: root.ID}
	return &dc{t: t, URL: d.URL, svc: d.Svc, admin: admin}
}

func (d *dc) do(method, path string, header http.Header, body string) (int, []byte) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.URL+path, strings.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	r := testkit.Do(d.t, http.DefaultClient, req)
	return r.Status, r.Body
}

// tokenRequest posts a token request and returns the status and the
// access token, if any.
func (d *dc) tokenRequest(form, authorization string) (int, string) {
	d.t.Helper()
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if authorization != "" {
		h.Set("Authorization", authorization)
	}
	status, b := d.do(http.MethodPost, "/bc/idp/token", h, form)
	var tr api.TokenResponse
	_ = json.Unmarshal(b, &tr)
	return status, tr.AccessToken
}

// scrape fetches /metrics and returns each sample as its exposition text
// key (name{labels}, labels in the order client_golang writes them:
// sorted) with its value.
func (d *dc) scrape() (map[string]float64, string) {
	d.t.Helper()
	status, b := d.do(http.MethodGet, "/metrics", nil, "")
	if status != http.StatusOK {
		d.t.Fatalf("GET /metrics: %d %s", status, b)
	}
	return parseExposition(d.t, string(b)), string(b)
}

func parseExposition(t *testing.T, text string) map[string]float64 {
	t.Helper()
	samples := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("bad exposition line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad value in %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return samples
}

// seriesNames are the names of every series in a scrape.
func seriesNames(samples map[string]float64) map[string]bool {
	names := map[string]bool{}
	for k := range samples {
		name, _, _ := strings.Cut(k, "{")
		names[name] = true
	}
	return names
}

// exercise sends one of each request the metrics distinguish and returns
// the id of a client it created.
func exercise(t *testing.T, d *dc) string {
	t.Helper()
	status, tok := d.tokenRequest("grant_type=client_credentials", testkit.Basic(d.admin.ClientID, d.admin.ClientSecret))
	if status != http.StatusOK || tok == "" {
		t.Fatalf("token: %d", status)
	}
	if status, _ := d.tokenRequest("grant_type=client_credentials", testkit.Basic(d.admin.ClientID, "wrong-"+d.admin.ClientSecret)); status != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", status)
	}
	if status, _ := d.tokenRequest("", testkit.Basic(d.admin.ClientID, d.admin.ClientSecret)); status != http.StatusBadRequest {
		t.Fatalf("no grant_type: %d", status)
	}
	if status, _ := d.tokenRequest("grant_type=password", testkit.Basic(d.admin.ClientID, d.admin.ClientSecret)); status != http.StatusBadRequest {
		t.Fatalf("password grant: %d", status)
	}

	bearer := http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}}
	status, b := d.do(http.MethodPost, "/api/2/clients", bearer, `{"type":"api_client","data":{"client_name":"metrics"}}`)
	if status != http.StatusCreated {
		t.Fatalf("create client: %d %s", status, b)
	}
	var created api.Client
	if err := json.Unmarshal(b, &created); err != nil {
		t.Fatal(err)
	}
	if status, b := d.do(http.MethodGet, "/api/2/clients/"+created.ClientID, bearer, ""); status != http.StatusOK {
		t.Fatalf("get client: %d %s", status, b)
	}
	if status, _ := d.do(http.MethodGet, "/api/2/clients/"+created.ClientID, http.Header{"Authorization": {"Bearer not-a-token"}}, ""); status != http.StatusUnauthorized {
		t.Fatalf("malformed bearer: %d", status)
	}
	if status, _ := d.do(http.MethodGet, "/api/2/clients/"+created.ClientID, nil, ""); status != http.StatusUnauthorized {
		t.Fatalf("no bearer: %d", status)
	}
	return created.ClientID
}

func TestMetricsCountRequests(t *testing.T) {
	d := newDC(t)
	createdID := exercise(t, d)
	samples, text := d.scrape()

	want := map[string]float64{
		`gatehouse_tokens_issued_total`:                                           1,
		`gatehouse_token_request_failures_total{reason="invalid_client"}`:         1,
		`gatehouse_token_request_failures_total{reason="invalid_request"}`:        1,
		`gatehouse_token_request_failures_total{reason="unsupported_grant_type"}`: 1,
		`gatehouse_bearer_checks_total{outcome="ok"}`:                             2,
		`gatehouse_bearer_checks_total{outcome="tokenMalformed"}`:                 1,
		`gatehouse_bearer_checks_total{outcome="bearerTokenMissing"}`:             1,
		// The token endpoint: one issued, three refused.
		`gatehouse_http_request_duration_seconds_count{code="200",method="POST",route="/bc/idp/token"}`: 1,
		`gatehouse_http_request_duration_seconds_count{code="400",method="POST",route="/bc/idp/token"}`: 2,
		`gatehouse_http_request_duration_seconds_count{code="401",method="POST",route="/bc/idp/token"}`: 1,
		// The API's inner pattern, not "/api/2/", for a request that got
		// past the bearer check; refused ones never reached the API's mux.
		`gatehouse_http_request_duration_seconds_count{code="201",method="POST",route="/api/2/clients"}`:     1,
		`gatehouse_http_request_duration_seconds_count{code="200",method="GET",route="/api/2/clients/{id}"}`: 1,
		`gatehouse_http_request_duration_seconds_count{code="401",method="GET",route="/api/2/"}`:             2,
		`gatehouse_store_operation_duration_seconds_count{op="Bootstrap"}`:                                   1,
		`gatehouse_store_operation_duration_seconds_count{op="CreateClient"}`:                                1,
		`gatehouse_store_operation_duration_seconds_count{op="DeleteClient"}`:                                0,
	}
	for k, v := range want {
		got, ok := samples[k]
		if !ok {
			t.Errorf("no sample %s", k)
		} else if got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	for _, k := range []string{
		`gatehouse_store_operation_duration_seconds_count{op="GetClient"}`,
		`gatehouse_store_operation_duration_seconds_count{op="SigningKeys"}`,
		`gatehouse_client_cache_misses_total`,
		`gatehouse_client_cache_entries`,
		`gatehouse_signing_key_age_seconds`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if samples[k] <= 0 {
			t.Errorf("%s = %v, want > 0", k, samples[k])
		}
	}
	if _, ok := samples[`gatehouse_client_cache_hits_total`]; !ok {
		t.Error("no client cache hits counter")
	}
	if age := samples[`gatehouse_signing_key_age_seconds`]; age > 60 {
		t.Errorf("signing key age %v s for a key made at start", age)
	}
	// No series may name a client, a tenant or a raw path.
	for _, secretish := range []string{d.admin.ClientID, d.admin.TenantID, createdID, d.admin.ClientSecret} {
		if strings.Contains(text, secretish) {
			t.Errorf("the scrape contains %q", secretish)
		}
	}
	if strings.Contains(text, `route="/api/2/clients/`+createdID) {
		t.Error("a raw path became a route label")
	}
}

func TestMetricsRouteNeedsNoBearerAndIsAbsentWithoutMetrics(t *testing.T) {
	d := newDC(t)
	status, b := d.do(http.MethodGet, "/metrics", nil, "")
	if status != http.StatusOK || !strings.Contains(string(b), "# TYPE gatehouse_tokens_issued_total counter") {
		t.Fatalf("GET /metrics: %d %.200s", status, b)
	}
	if status, _ := d.do(http.MethodPost, "/metrics", nil, ""); status != http.StatusMethodNotAllowed {
		t.Fatalf("POST /metrics: %d, want 405", status)
	}

	// A server without metrics answers 404 there and still serves.
	svc := d.svc
	rec := httptest.NewRecorder()
	server.New(server.Config{Service: svc, DatacenterURL: "http://x"}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("GET /metrics without metrics: %d, want 404", rec.Code)
	}
}

func TestRouteLabelIsBounded(t *testing.T) {
	d := newDC(t)
	for i := range 20 {
		d.do(http.MethodGet, "/no/such/path/"+strconv.Itoa(i), nil, "")
		d.do("BREW"+strconv.Itoa(i), "/healthz", nil, "")
	}
	samples, _ := d.scrape()
	if got := samples[`gatehouse_http_request_duration_seconds_count{code="404",method="GET",route="/"}`]; got != 20 {
		t.Errorf("unknown paths: %v requests under route \"/\", want 20", got)
	}
	if got := samples[`gatehouse_http_request_duration_seconds_count{code="405",method="other",route="/healthz"}`]; got != 20 {
		t.Errorf("unknown methods: %v requests under method \"other\", want 20", got)
	}
	for k := range samples {
		if strings.Contains(k, "/no/such/path") || strings.Contains(k, "BREW") {
			t.Errorf("caller input became a label: %s", k)
		}
	}
}
