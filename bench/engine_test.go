package bench

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunStopsAfterRequests(t *testing.T) {
	var calls atomic.Int64
	op := func(context.Context) (int, error) {
		calls.Add(1)
		time.Sleep(100 * time.Microsecond)
		return 200, nil
	}
	res, err := Run(t.Context(), Config{Concurrency: 8, Requests: 500}, op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 500 || calls.Load() != 500 || res.Errors != 0 {
		t.Errorf("requests %d, calls %d, errors %d; want exactly 500, 500, 0", res.Requests, calls.Load(), res.Errors)
	}
	if res.Latency.Count() != 500 || res.Latency.Quantile(0.5) < 100*time.Microsecond {
		t.Errorf("latency count %d, p50 %v; want 500 samples of at least 100µs", res.Latency.Count(), res.Latency.Quantile(0.5))
	}
	if res.RPS() <= 0 || res.Elapsed <= 0 {
		t.Errorf("rps %v over %v", res.RPS(), res.Elapsed)
	}
}

func TestRunStopsAfterDuration(t *testing.T) {
	op := func(context.Context) (int, error) { time.Sleep(time.Millisecond); return 0, nil }
	var mu sync.Mutex
	var updates []Progress
	start := time.Now()
	res, err := Run(t.Context(), Config{
		Concurrency: 4, Duration: 1200 * time.Millisecond, Interval: 300 * time.Millisecond,
		Progress: func(p Progress) { mu.Lock(); updates = append(updates, p); mu.Unlock() },
	}, op)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 1200*time.Millisecond || took > 3*time.Second {
		t.Errorf("run took %v, want about 1.2s", took)
	}
	if res.Requests == 0 || res.Errors != 0 || res.Interrupted {
		t.Errorf("requests %d, errors %d, interrupted %v", res.Requests, res.Errors, res.Interrupted)
	}
	// Four 300ms intervals, give or take the last one.
	if n := len(res.Series); n < 3 || n > 5 {
		t.Errorf("%d points in the series, want about 4: %+v", n, res.Series)
	}
	var sum float64
	for _, p := range res.Series {
		if p.RPS <= 0 || p.P99 < time.Millisecond {
			t.Errorf("point %+v: want a positive rate and p99 ≥ 1ms", p)
		}
		sum += p.RPS
	}
	mean := sum / float64(len(res.Series))
	if r := mean / res.RPS(); r < 0.7 || r > 1.3 {
		t.Errorf("the series' mean rate %.0f is far from the run's %.0f", mean, res.RPS())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(updates) < 5 || !updates[len(updates)-1].Final {
		t.Fatalf("%d progress updates, last final=%v; want about 12 and a final one", len(updates), len(updates) > 0 && updates[len(updates)-1].Final)
	}
	mid := updates[len(updates)/2]
	if mid.Requests == 0 || mid.RPS <= 0 || mid.Done <= 0 || mid.Done >= 1 {
		t.Errorf("progress mid-run: %+v", mid)
	}
}

func TestRunCountsErrorsByStatus(t *testing.T) {
	var n atomic.Int64
	op := func(context.Context) (int, error) {
		switch n.Add(1) % 4 {
		case 1:
			return 401, errors.New("POST /bc/idp/token: 401 invalid_client")
		case 2:
			return 0, errors.New("dial tcp 127.0.0.1:1: connection refused")
		case 3:
			return 503, nil // a status alone is enough to fail
		}
		return 204, nil
	}
	res, err := Run(t.Context(), Config{Concurrency: 1, Requests: 400}, op)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"401": 100, "network": 100, "503": 100}
	if res.Requests != 400 || res.Errors != 300 || len(res.ErrorsByStatus) != 3 {
		t.Fatalf("requests %d, errors %d by status %v; want 400, 300 %v", res.Requests, res.Errors, res.ErrorsByStatus, want)
	}
	for k, v := range want {
		if res.ErrorsByStatus[k] != v {
			t.Errorf("errors[%s] = %d, want %d", k, res.ErrorsByStatus[k], v)
		}
	}
	if !strings.Contains(res.FirstErrors["network"], "connection refused") || !strings.Contains(res.FirstErrors["401"], "invalid_client") {
		t.Errorf("first errors: %v", res.FirstErrors)
	}
	// Network failures have no latency worth the name: 300 of 400 counted.
	if res.Latency.Count() != 300 {
		t.Errorf("latency samples %d, want 300", res.Latency.Count())
	}
	var text strings.Builder
	if err := WriteText(&text, "bench test", "requests", res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Errors:", "HTTP 401:", "network:", "connection refused", "Latency p99:", "Throughput:"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, text.String())
		}
	}
	s := Summarize("test", res)
	if s.Requests != 400 || s.Errors != 300 || s.ErrorsByStatus["503"] != 100 || s.RPS <= 0 {
		t.Errorf("summary %+v", s)
	}
}

// Cancelling the parent context ends the run at once; requests it cut
// short are not counted as errors.
func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var started atomic.Int64
	op := func(ctx context.Context) (int, error) {
		if started.Add(1) == 50 {
			cancel()
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Millisecond):
			return 200, nil
		}
	}
	start := time.Now()
	res, err := Run(ctx, Config{Concurrency: 4, Duration: time.Minute}, op)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("interrupted run took %v", time.Since(start))
	}
	if !res.Interrupted || res.Errors != 0 || res.Requests == 0 || res.Requests >= started.Load() {
		t.Errorf("interrupted %v, errors %d, requests %d of %d started", res.Interrupted, res.Errors, res.Requests, started.Load())
	}
}

// A request still hanging when the time is up is abandoned after the
// grace period, so the run ends anyway.
func TestRunAbandonsHungRequests(t *testing.T) {
	op := func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	start := time.Now()
	res, err := Run(t.Context(), Config{Concurrency: 2, Duration: 200 * time.Millisecond, Grace: 200 * time.Millisecond}, op)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("run with hung requests took %v", took)
	}
	if res.Requests != 0 || res.Errors != 0 {
		t.Errorf("abandoned requests counted: %d requests, %d errors", res.Requests, res.Errors)
	}
}

func TestRunRejectsUnboundedConfig(t *testing.T) {
	op := func(context.Context) (int, error) { return 200, nil }
	for _, cfg := range []Config{{Concurrency: 1}, {Concurrency: 0, Requests: 1}, {Concurrency: 1, Requests: -1}} {
		if _, err := Run(t.Context(), cfg, op); err == nil {
			t.Errorf("Run(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestFormatProgress(t *testing.T) {
	got := FormatProgress(Progress{Elapsed: 3340 * time.Millisecond, Requests: 1234567, Errors: 2, RPS: 2771.4, Done: 1.0 / 3}, 30)
	want := "[##########--------------------]  33%  3.3s  1,234,567 req  2,771 req/s  2 errors"
	if got != want {
		t.Errorf("FormatProgress =\n%q, want\n%q", got, want)
	}
}
