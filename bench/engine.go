// Package bench is the engine behind `gatehouse bench`: it runs an
// operation from many goroutines for a bounded time or number of requests,
// records every latency in bounded memory, and reports a summary, a time
// series for plotting and a live progress line.
package bench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Op performs one request. It answers the HTTP status it got (0 when none
// came back) and an error when the request failed. A request is a success
// when err is nil and the status is 0 (no HTTP involved, as for a
// signature) or 2xx.
type Op func(ctx context.Context) (status int, err error)

// Config bounds and shapes a run.
type Config struct {
	// Concurrency is the number of goroutines issuing requests, each one
	// request at a time (a closed loop, like wrk and pgbench).
	Concurrency int
	// Duration stops the run after this long; 0 means no time limit.
	Duration time.Duration
	// Requests stops the run after this many requests; 0 means no limit.
	// At least one of Duration and Requests must be set, so that every run
	// ends by itself.
	Requests int64
	// Grace is how long requests still in flight when Duration is up may
	// take to finish before they are abandoned (and not counted), so that a
	// hung server cannot stretch the run. Zero means 2s.
	Grace time.Duration
	// Interval is the step of the time series (Result.Series). Zero means
	// one second.
	Interval time.Duration
	// Progress, if set, is called about ten times a second from one
	// goroutine while the run lasts, and once more at the end.
	Progress func(Progress)
}

// Progress is the state of a run in progress.
type Progress struct {
	Elapsed  time.Duration
	Requests int64
	Errors   int64
	// RPS is the rate of completed requests over about the last second.
	RPS float64
	// Done is the fraction of the run done, from the time or the request
	// count, whichever is further along.
	Done float64
	// Final is set on the last call, when the run is over.
	Final bool
}

// Point is one interval of the time series.
type Point struct {
	// At is the end of the interval, from the start of the run.
	At     time.Duration
	RPS    float64
	Errors int64
	// P99 is the 99th percentile latency of the requests completed in the
	// interval, 0 when none completed.
	P99 time.Duration
}

// Result is the outcome of a run.
type Result struct {
	Concurrency int
	// Elapsed runs from the start of the first request to the end of the
	// last one counted.
	Elapsed time.Duration
	// Requests counts the completed requests, successes and errors alike;
	// requests abandoned by an interrupt or the end of the grace period are
	// not counted.
	Requests int64
	Errors   int64
	// ErrorsByStatus counts the errors by HTTP status ("401", "503") or
	// "network" for requests that got no answer.
	ErrorsByStatus map[string]int64
	// FirstErrors holds the first error message seen of each kind, so that
	// an operator can see what went wrong without a debugger.
	FirstErrors map[string]string
	// Latency holds the latencies of every request that got an answer
	// (network failures excluded: they often take no time at all and would
	// flatter the figures).
	Latency *Histogram
	Series  []Point
	// Interrupted is set when the parent context ended the run early.
	Interrupted bool
}

// RPS is the throughput: completed requests per second.
func (r *Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// ErrorKinds lists the keys of ErrorsByStatus in order.
func (r *Result) ErrorKinds() []string {
	kinds := make([]string, 0, len(r.ErrorsByStatus))
	for k := range r.ErrorsByStatus {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// worker is one goroutine's share of the statistics. Its lock is taken by
// the worker for every sample and by the sampler once per interval, so it
// is almost never contended, unlike one lock or one set of atomic counters
// shared by hundreds of goroutines.
type worker struct {
	mu     sync.Mutex
	total  Histogram
	window Histogram
	errors map[string]int64
	first  map[string]string
	// wdone and werrs count the requests and errors of the current
	// interval; last is when the worker's latest counted request ended.
	wdone, werrs int64
	last         time.Duration
}

// Run runs op under cfg until the time or the request count is up, or ctx
// ends (then the result has Interrupted set, and the requests cut short
// are not counted).
func Run(ctx context.Context, cfg Config, op Op) (*Result, error) {
	if cfg.Concurrency < 1 {
		return nil, fmt.Errorf("concurrency must be at least 1, got %d", cfg.Concurrency)
	}
	if cfg.Duration < 0 || cfg.Requests < 0 {
		return nil, errors.New("duration and requests must not be negative")
	}
	if cfg.Duration == 0 && cfg.Requests == 0 {
		return nil, errors.New("set a duration or a request count: a run must end by itself")
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 2 * time.Second
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}

	// stop ends the issuing of new requests; reqCtx, the context of each
	// request, outlives it by the grace period so that requests in flight
	// at the deadline may finish and count.
	stopCtx, stop := context.WithCancel(ctx)
	defer stop()
	reqCtx, abandon := context.WithCancel(ctx)
	defer abandon()

	var (
		issued    atomic.Int64 // requests started, to honour cfg.Requests exactly
		completed atomic.Int64
		failed    atomic.Int64
		wg        sync.WaitGroup
	)
	workers := make([]*worker, cfg.Concurrency)
	start := time.Now()
	if cfg.Duration > 0 {
		t := time.AfterFunc(cfg.Duration, func() {
			stop()
			time.AfterFunc(cfg.Grace, abandon)
		})
		defer t.Stop()
	}
	for i := range workers {
		w := &worker{errors: map[string]int64{}, first: map[string]string{}}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for stopCtx.Err() == nil {
				if n := issued.Add(1); cfg.Requests > 0 && n > cfg.Requests {
					return
				}
				t0 := time.Now()
				status, err := op(reqCtx)
				d := time.Since(t0)
				if reqCtx.Err() != nil {
					// Cut short by an interrupt or the end of the grace
					// period: neither a success nor the server's fault.
					return
				}
				kind := ""
				switch {
				case err == nil && (status == 0 || status >= 200 && status < 300):
				case status != 0:
					kind = strconv.Itoa(status)
				default:
					kind = "network"
				}
				end := time.Since(start)
				w.mu.Lock()
				w.wdone++
				w.last = end
				if status != 0 || kind == "" {
					w.total.Record(d)
					w.window.Record(d)
				}
				if kind != "" {
					w.errors[kind]++
					w.werrs++
					if _, ok := w.first[kind]; !ok {
						msg := fmt.Sprintf("status %d", status)
						if err != nil {
							msg = err.Error()
						}
						w.first[kind] = msg
					}
				}
				w.mu.Unlock()
				if kind != "" {
					failed.Add(1)
				}
				completed.Add(1)
			}
		}()
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	res := &Result{Concurrency: cfg.Concurrency, ErrorsByStatus: map[string]int64{}, FirstErrors: map[string]string{}}
	s := sampler{cfg: cfg, start: start, workers: workers, completed: &completed, failed: &failed}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case <-done:
			break loop
		case now := <-tick.C:
			s.tick(now, false)
		}
	}
	// The run ends with the last counted request, not when the workers
	// noticed the end or gave up on abandoned requests, which would dilute
	// the throughput.
	var last time.Duration
	for _, w := range workers {
		last = max(last, w.last)
	}
	end := start.Add(last)
	if last == 0 {
		end = time.Now()
	}
	s.tick(end, true)

	res.Elapsed = end.Sub(start)
	res.Requests = completed.Load()
	res.Errors = failed.Load()
	res.Latency = &Histogram{}
	for _, w := range workers {
		res.Latency.Merge(&w.total)
		for k, n := range w.errors {
			res.ErrorsByStatus[k] += n
			if _, ok := res.FirstErrors[k]; !ok {
				res.FirstErrors[k] = w.first[k]
			}
		}
	}
	res.Series = s.series
	res.Interrupted = ctx.Err() != nil
	return res, nil
}

// sampler turns the workers' counters into the progress line (every
// tick) and the time series (every interval).
type sampler struct {
	cfg       Config
	start     time.Time
	workers   []*worker
	completed *atomic.Int64
	failed    *atomic.Int64

	series      []Point
	windowStart time.Duration
	merged      Histogram
	// recent holds the request counts of the last second of ticks, for a
	// progress rate that follows changes without jumping about.
	recent []stamp
}

type stamp struct {
	at time.Duration
	n  int64
}

func (s *sampler) tick(now time.Time, final bool) {
	elapsed := now.Sub(s.start)
	n := s.completed.Load()
	s.recent = append(s.recent, stamp{elapsed, n})
	for len(s.recent) > 2 && elapsed-s.recent[1].at >= time.Second {
		s.recent = s.recent[1:]
	}
	var rps float64
	if first := s.recent[0]; elapsed > first.at {
		rps = float64(n-first.n) / (elapsed - first.at).Seconds()
	}
	if len(s.recent) == 1 && elapsed > 0 {
		rps = float64(n) / elapsed.Seconds()
	}

	if elapsed-s.windowStart >= s.cfg.Interval || final {
		s.closeWindow(elapsed, final)
	}

	if s.cfg.Progress != nil {
		done := 0.0
		if s.cfg.Duration > 0 {
			done = elapsed.Seconds() / s.cfg.Duration.Seconds()
		}
		if s.cfg.Requests > 0 {
			done = max(done, float64(n)/float64(s.cfg.Requests))
		}
		if final {
			done = 1
		}
		s.cfg.Progress(Progress{
			Elapsed: elapsed, Requests: n, Errors: s.failed.Load(),
			RPS: rps, Done: min(done, 1), Final: final,
		})
	}
}

// closeWindow adds the interval that ends now to the series. A final
// stub shorter than a quarter interval is dropped: its rate would be
// mostly noise.
func (s *sampler) closeWindow(elapsed time.Duration, final bool) {
	s.merged.Reset()
	var reqs, errs int64
	for _, w := range s.workers {
		w.mu.Lock()
		s.merged.Merge(&w.window)
		w.window.Reset()
		reqs += w.wdone
		errs += w.werrs
		w.wdone, w.werrs = 0, 0
		w.mu.Unlock()
	}
	length := elapsed - s.windowStart
	s.windowStart = elapsed
	if length <= 0 || (final && length < s.cfg.Interval/4) {
		return
	}
	s.series = append(s.series, Point{
		At:     elapsed,
		RPS:    float64(reqs) / length.Seconds(),
		Errors: errs,
		P99:    s.merged.Quantile(0.99),
	})
}
