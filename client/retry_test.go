package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// answer is one scripted failure: a status and its Retry-After header.
type answer struct {
	status     int
	retryAfter string
}

// flakyDC answers its token endpoint and /api/2/clients/ with scripted
// failures, in order, and succeeds once a script runs out.
type flakyDC struct {
	srv       *httptest.Server
	tokenHits atomic.Int64
	apiHits   atomic.Int64

	mu     sync.Mutex
	token  []answer
	api    []answer
	bodies []string
}

func newFlakyDC(t *testing.T, token, api []answer) *flakyDC {
	t.Helper()
	f := &flakyDC{token: token, api: api}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bc/idp/token", f.serveToken)
	mux.HandleFunc("/api/2/clients/", f.serveAPI)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// next pops the next scripted answer of script, if any.
func (f *flakyDC) next(script *[]answer) (answer, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(*script) == 0 {
		return answer{}, false
	}
	a := (*script)[0]
	*script = (*script)[1:]
	return a, true
}

func (f *flakyDC) serveToken(w http.ResponseWriter, r *http.Request) {
	f.tokenHits.Add(1)
	if a, ok := f.next(&f.token); ok {
		setRetryAfter(w, a)
		writeJSON(w, a.status, api.OAuthError{Error: "temporarily_unavailable", ErrorDescription: "Come back later."})
		return
	}
	writeJSON(w, http.StatusOK, api.TokenResponse{AccessToken: fmt.Sprintf("token-%d", f.tokenHits.Load()), TokenType: "bearer", ExpiresIn: 7200})
}

func (f *flakyDC) serveAPI(w http.ResponseWriter, r *http.Request) {
	f.apiHits.Add(1)
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(body))
	f.mu.Unlock()
	if a, ok := f.next(&f.api); ok {
		setRetryAfter(w, a)
		code := "serviceUnavailable"
		if a.status == http.StatusTooManyRequests {
			code = "tooManyRequests"
		}
		writeJSON(w, a.status, api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: "Come back later."}})
		return
	}
	writeJSON(w, http.StatusOK, api.Client{ClientID: strings.TrimPrefix(r.URL.Path, "/api/2/clients/"), Status: "enabled"})
}

func setRetryAfter(w http.ResponseWriter, a answer) {
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
}

// waits records the waits a Client asks for instead of sleeping them.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return context.Cause(ctx)
}

func (w *waits) get() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

// client returns an SDK client of f whose waits are recorded, not slept.
func (f *flakyDC) client(t *testing.T, mod func(*client.Config)) (*client.Client, *waits) {
	t.Helper()
	cfg := client.Config{DatacenterURL: f.srv.URL, ClientID: testID, ClientSecret: testSecret}
	if mod != nil {
		mod(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &waits{}
	c.SetSleep(w.sleep)
	return c, w
}

func equalWaits(got []time.Duration, want ...time.Duration) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestRetryTokenRequestHonoursRetryAfter(t *testing.T) {
	f := newFlakyDC(t, []answer{{429, "0"}, {503, "2"}}, nil)
	c, w := f.client(t, nil)
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if tok.AccessToken != "token-3" || f.tokenHits.Load() != 3 {
		t.Errorf("token %q after %d requests, want token-3 after 3", tok.AccessToken, f.tokenHits.Load())
	}
	if got := w.get(); !equalWaits(got, 0, 2*time.Second) {
		t.Errorf("waits = %v, want [0s 2s] as Retry-After said", got)
	}
}

func TestRetryAPIRequestHonoursRetryAfter(t *testing.T) {
	f := newFlakyDC(t, nil, []answer{{503, "1"}, {429, "0"}})
	c, w := f.client(t, nil)
	if _, err := c.Accounts().Get(context.Background(), "x"); err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	if n := f.apiHits.Load(); n != 3 {
		t.Errorf("API requests = %d, want 3", n)
	}
	if n := f.tokenHits.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
	if got := w.get(); !equalWaits(got, time.Second, 0) {
		t.Errorf("waits = %v, want [1s 0s]", got)
	}
}

func TestRetryReplaysBody(t *testing.T) {
	f := newFlakyDC(t, nil, []answer{{429, "0"}, {503, "0"}})
	c, _ := f.client(t, nil)
	disabled := "disabled"
	if _, err := c.Accounts().Update(context.Background(), "x", api.UpdateClientRequest{Status: &disabled}); err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) != 3 {
		t.Fatalf("API requests = %d, want 3", len(f.bodies))
	}
	for i, b := range f.bodies {
		if b != `{"status":"disabled"}` {
			t.Errorf("body of request %d = %q, want it replayed intact", i, b)
		}
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	clk := testkit.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	f := newFlakyDC(t, nil, []answer{
		{429, clk.Now().Add(7 * time.Second).Format(http.TimeFormat)},
		{503, clk.Now().Add(-time.Minute).Format(http.TimeFormat)}, // already past: no wait
	})
	c, w := f.client(t, func(cfg *client.Config) { cfg.Now = clk.Now })
	if _, err := c.Accounts().Get(context.Background(), "x"); err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	if got := w.get(); !equalWaits(got, 7*time.Second, 0) {
		t.Errorf("waits = %v, want [7s 0s]", got)
	}
}

func TestRetryBackoffWithoutRetryAfter(t *testing.T) {
	// An unreadable Retry-After counts as none.
	f := newFlakyDC(t, nil, []answer{{503, ""}, {429, "soon"}, {503, "-1"}})
	c, w := f.client(t, func(cfg *client.Config) { cfg.MaxRetryWait = 1500 * time.Millisecond })
	if _, err := c.Accounts().Get(context.Background(), "x"); err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	got := w.get()
	// Exponential from 500ms, capped at MaxRetryWait, each wait in the
	// upper half of its step.
	steps := []time.Duration{500 * time.Millisecond, time.Second, 1500 * time.Millisecond}
	if len(got) != len(steps) {
		t.Fatalf("waits = %v, want %d", got, len(steps))
	}
	for i, step := range steps {
		if got[i] < step/2 || got[i] > step {
			t.Errorf("wait %d = %v, want within [%v, %v]", i, got[i], step/2, step)
		}
	}
}

func TestRetryBackoffIsJittered(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 20 {
		f := newFlakyDC(t, nil, []answer{{503, ""}})
		c, w := f.client(t, nil)
		if _, err := c.Accounts().Get(context.Background(), "x"); err != nil {
			t.Fatal(err)
		}
		seen[w.get()[0]] = true
	}
	if len(seen) < 2 {
		t.Errorf("20 clients all waited %v: want jitter", seen)
	}
}

func TestRetryGivesUpAfterMaxRetries(t *testing.T) {
	always := func(n int) []answer {
		s := make([]answer, n)
		for i := range s {
			s[i] = answer{429, "0"}
		}
		return s
	}
	for _, tc := range []struct {
		name       string
		maxRetries int
		wantHits   int64
	}{
		{"default", 0, 1 + client.DefaultMaxRetries},
		{"two", 2, 3},
		{"off", -1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlakyDC(t, always(10), always(10))
			c, w := f.client(t, func(cfg *client.Config) { cfg.MaxRetries = tc.maxRetries })

			_, err := c.Token(context.Background())
			if e, ok := errors.AsType[*client.Error](err); !ok || e.StatusCode != 429 || e.Code != "temporarily_unavailable" {
				t.Errorf("Token: err = %v, want the last 429 as a *client.Error", err)
			}
			if n := f.tokenHits.Load(); n != tc.wantHits {
				t.Errorf("token requests = %d, want %d", n, tc.wantHits)
			}

			f.mu.Lock()
			f.token = nil
			f.mu.Unlock()
			_, err = c.Accounts().Get(context.Background(), "x")
			if e, ok := errors.AsType[*client.Error](err); !ok || e.StatusCode != 429 || e.Code != "tooManyRequests" {
				t.Errorf("GetClient: err = %v, want the last 429 as a *client.Error", err)
			}
			if n := f.apiHits.Load(); n != tc.wantHits {
				t.Errorf("API requests = %d, want %d", n, tc.wantHits)
			}
			if n := len(w.get()); int64(n) != 2*(tc.wantHits-1) {
				t.Errorf("waits = %d, want %d", n, 2*(tc.wantHits-1))
			}
		})
	}
}

func TestRetryAfterLongerThanCapIsNotRetried(t *testing.T) {
	for _, ra := range []string{"31", "99999999999999999999"} {
		f := newFlakyDC(t, nil, []answer{{429, ra}})
		c, w := f.client(t, nil) // DefaultMaxRetryWait is 30s
		_, err := c.Accounts().Get(context.Background(), "x")
		if e, ok := errors.AsType[*client.Error](err); !ok || e.StatusCode != 429 {
			t.Errorf("Retry-After %s: err = %v, want the 429 handed back", ra, err)
		}
		if n := f.apiHits.Load(); n != 1 || len(w.get()) != 0 {
			t.Errorf("Retry-After %s: %d requests, waits %v; want 1 request and no wait", ra, n, w.get())
		}
	}
}

func TestRetryOnlyOn429And503(t *testing.T) {
	for _, status := range []int{400, 403, 404, 409, 500, 502, 504} {
		f := newFlakyDC(t, nil, []answer{{status, "0"}})
		c, _ := f.client(t, nil)
		resp, err := c.HTTPClient().Get(f.srv.URL + "/api/2/clients/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status || f.apiHits.Load() != 1 {
			t.Errorf("%d: got %d after %d requests, want it handed back after 1", status, resp.StatusCode, f.apiHits.Load())
		}
	}
}

func TestRetryNeedsReplayableBody(t *testing.T) {
	f := newFlakyDC(t, nil, []answer{{503, "0"}})
	c, w := f.client(t, nil)
	// io.NopCloser hides the reader's type, so NewRequest sets no GetBody.
	req, _ := http.NewRequest(http.MethodPut, f.srv.URL+"/api/2/clients/x", io.NopCloser(strings.NewReader(`{}`)))
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || f.apiHits.Load() != 1 || len(w.get()) != 0 {
		t.Errorf("got %d after %d requests, waits %v; want the 503 handed back at once", resp.StatusCode, f.apiHits.Load(), w.get())
	}
}

func TestRetryWaitEndsWithContext(t *testing.T) {
	f := newFlakyDC(t, nil, []answer{{429, "20"}})
	// The real sleep: the wait must end when the context does.
	c, err := client.New(client.Config{DatacenterURL: f.srv.URL, ClientID: testID, ClientSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/api/2/clients/x", nil)
	resp, err := c.HTTPClient().Do(req)
	if err == nil {
		resp.Body.Close()
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %v, want promptly once the context ended", d)
	}
	if n := f.apiHits.Load(); n != 1 {
		t.Errorf("API requests = %d, want 1", n)
	}
}

func TestRetryTokenWaitEndsWithCallerContext(t *testing.T) {
	f := newFlakyDC(t, []answer{{503, "20"}}, nil)
	c, err := client.New(client.Config{DatacenterURL: f.srv.URL, ClientID: testID, ClientSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	// The shared token request waits on, for other callers, but this
	// caller stops waiting when its context ends.
	if _, err := c.Token(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %v, want promptly", d)
	}
}

func TestRetryNotStartedPastDeadline(t *testing.T) {
	f := newFlakyDC(t, nil, []answer{{503, "5"}})
	c, w := f.client(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// A 5s wait cannot end within the 2s left: the 503 comes back at once
	// rather than a deadline error after waiting in vain.
	_, err := c.Accounts().Get(ctx, "x")
	if e, ok := errors.AsType[*client.Error](err); !ok || e.StatusCode != 503 {
		t.Errorf("err = %v, want the 503 handed back", err)
	}
	if len(w.get()) != 0 || f.apiHits.Load() != 1 {
		t.Errorf("waits %v after %d requests; want none after 1", w.get(), f.apiHits.Load())
	}
}

func TestRetryAfterInvalidTokenAndBackoffCombine(t *testing.T) {
	// A 429, then the token is refused, then success: both rules apply to
	// one request, each within its own bound.
	var hits atomic.Int64
	var tokens atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bc/idp/token", func(w http.ResponseWriter, r *http.Request) {
		n := tokens.Add(1)
		writeJSON(w, http.StatusOK, api.TokenResponse{AccessToken: fmt.Sprintf("token-%d", n), TokenType: "bearer", ExpiresIn: 7200})
	})
	mux.HandleFunc("/api/2/clients/", func(w http.ResponseWriter, r *http.Request) {
		switch hits.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "0")
			writeJSON(w, http.StatusTooManyRequests, api.ErrorBody{Error: api.ErrorDetail{Code: "tooManyRequests"}})
		case 2:
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, api.ErrorBody{Error: api.ErrorDetail{Code: "tokenRevoked"}})
		default:
			if r.Header.Get("Authorization") != "Bearer token-2" {
				w.WriteHeader(http.StatusTeapot)
				return
			}
			writeJSON(w, http.StatusOK, api.Client{ClientID: "x"})
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, _ := client.New(client.Config{DatacenterURL: srv.URL, ClientID: testID, ClientSecret: testSecret})
	c.SetSleep((&waits{}).sleep)
	if _, err := c.Accounts().Get(context.Background(), "x"); err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	if hits.Load() != 3 || tokens.Load() != 2 {
		t.Errorf("%d API and %d token requests, want 3 and 2", hits.Load(), tokens.Load())
	}
}
