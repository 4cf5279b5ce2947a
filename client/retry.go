package client

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Retry says how a request answered 429 Too Many Requests or 503 Service
// Unavailable is sent again. A nil *Retry sends nothing again.
type Retry struct {
	// Max is how many times a request is sent again; zero or less: never.
	Max int
	// MaxWait caps each wait before a retry. When the server's Retry-After
	// asks for longer, the request is not sent sooner than asked but the
	// answer goes back to the caller. Zero means DefaultMaxRetryWait.
	MaxWait time.Duration
	// Now is the clock that Retry-After dates are read against; nil means
	// time.Now.
	Now func() time.Time

	// sleep waits between retries; tests replace it so as not to sleep.
	sleep func(ctx context.Context, d time.Duration) error
}

// retryBase is the first backoff step when the server gives no
// Retry-After; each further retry doubles it, up to Config.MaxRetryWait.
const retryBase = 500 * time.Millisecond

// retryable reports whether an answer asks the client to come back later:
// 429 Too Many Requests (rate limited) and 503 Service Unavailable (a data
// center that is starting, draining or has lost its store). Every other
// status is final; in particular 500 and 502 say nothing about whether a
// second attempt could succeed, and the request may already have had an
// effect.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// delay says how long to wait before sending again a request that got
// resp after retries earlier retries, and false when resp is final and
// goes back to the caller: it is not a 429 or 503, the retries are used
// up, the server asked for a longer wait than MaxWait allows,
// or ctx would end before the wait did (failing with a deadline error
// after the wait would only hide the server's answer).
func (r *Retry) delay(ctx context.Context, resp *http.Response, retries int) (time.Duration, bool) {
	if r == nil || !retryable(resp.StatusCode) || retries >= r.Max {
		return 0, false
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	wait, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now())
	switch {
	case !ok:
		wait = r.backoff(retries)
	case wait > r.maxWait():
		// Retrying sooner than the server asked would not honour it, and
		// would most likely earn another 429.
		return 0, false
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
		return 0, false
	}
	return wait, true
}

// backoff is the wait before retry number retries+1 when the server did
// not say: exponential, capped at MaxWait, with "equal jitter" (a
// random point in the upper half of the step) so that many clients pushed
// back at the same moment do not all come back at the same moment.
func (r *Retry) backoff(retries int) time.Duration {
	step := r.maxWait()
	if retries < 32 { // beyond that the shift would overflow; the cap applies anyway
		step = min(retryBase<<retries, step)
	}
	return step/2 + rand.N(step/2+1)
}

// parseRetryAfter reads a Retry-After header (RFC 9110 10.2.3): either
// delta-seconds or an HTTP-date, which is counted from now. A date in the
// past means no wait. It reports false when the header is absent or
// malformed.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				// More seconds than a Duration holds: longer than any cap.
				return time.Duration(1<<63 - 1), true
			}
			return 0, false
		}
		if secs > uint64((1<<63-1)/time.Second) {
			return time.Duration(1<<63 - 1), true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

func (r *Retry) maxWait() time.Duration {
	if r.MaxWait <= 0 {
		return DefaultMaxRetryWait
	}
	return r.MaxWait
}

// wait sleeps d before a retry, or less if ctx ends first.
func (r *Retry) wait(ctx context.Context, d time.Duration) error {
	if r.sleep != nil {
		return r.sleep(ctx, d)
	}
	return sleep(ctx, d)
}

// sleep waits d, or until ctx ends, whichever comes first, and then
// reports why ctx ended, if it did.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
