package client

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

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

// retryDelay says how long to wait before sending again a request that got
// resp after retries earlier retries, and false when resp is final and
// goes back to the caller: it is not a 429 or 503, the retries are used
// up, the server asked for a longer wait than Config.MaxRetryWait allows,
// or ctx would end before the wait did (failing with a deadline error
// after the wait would only hide the server's answer).
func (c *Client) retryDelay(ctx context.Context, resp *http.Response, retries int) (time.Duration, bool) {
	if !retryable(resp.StatusCode) || retries >= c.maxRetries {
		return 0, false
	}
	wait, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	switch {
	case !ok:
		wait = c.backoff(retries)
	case wait > c.maxWait:
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
// not say: exponential, capped at MaxRetryWait, with "equal jitter" (a
// random point in the upper half of the step) so that many clients pushed
// back at the same moment do not all come back at the same moment.
func (c *Client) backoff(retries int) time.Duration {
	step := c.maxWait
	if retries < 32 { // beyond that the shift would overflow; the cap applies anyway
		step = min(retryBase<<retries, c.maxWait)
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
