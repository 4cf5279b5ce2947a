package ratelimit

import (
	"math"
	"time"
)

// The window arithmetic is kept apart from the in-memory limiter so that a
// limiter backed by a database, which stores one count per key and fixed
// window, computes exactly the same answers: it reads the counts of the
// window containing now and of the one before, and calls these functions.

// WindowStart returns the start of the fixed window that contains now.
// Windows are aligned to multiples of window since the zero time (which, for
// any window dividing a day, are the multiples since the Unix epoch too), so
// every replica computes the same boundaries without coordinating.
func WindowStart(now time.Time, window time.Duration) time.Time {
	return now.Truncate(window)
}

// WindowedCount estimates the failures in the sliding window that ends at
// now: cur failures were counted in the fixed window starting at
// windowStart, prev in the one before it. The previous window's count is
// weighted by the share of it the sliding window still covers, assuming its
// failures were spread evenly.
//
// windowStart need not be the window containing now: counts stored a while
// ago are aged correctly (cur becomes the previous window's count one window
// later, and nothing is left two windows later). A now before windowStart,
// from a clock that stepped back, is taken as windowStart, so a step back
// never forgets failures.
func WindowedCount(prev, cur int, windowStart, now time.Time, window time.Duration) float64 {
	elapsed := now.Sub(windowStart)
	if elapsed < 0 {
		elapsed = 0
	}
	switch {
	case elapsed >= 2*window:
		return 0
	case elapsed >= window:
		// The stored current window is now the previous one.
		return float64(cur) * overlap(elapsed-window, window)
	default:
		return float64(prev)*overlap(elapsed, window) + float64(cur)
	}
}

// overlap is the share of the previous fixed window that a sliding window
// covers when it ends elapsed into the current one.
func overlap(elapsed, window time.Duration) float64 {
	return 1 - float64(elapsed)/float64(window)
}

// RetryAfter returns how long from now until WindowedCount falls below
// limit, or 0 if it already is: the wait a refused caller is told. Its
// arguments are those of WindowedCount; a limit below 1 is taken as 1, since
// a limit of 0 would refuse a key forever.
//
// The wait is at most a window (and a nanosecond) as long as a key has not
// failed more than limit times in one fixed window, which only concurrent
// failures make it do, since refused requests are not counted. It is always
// less than two windows, after which every count has expired, unless the
// clock stepped back before windowStart.
func RetryAfter(prev, cur, limit int, windowStart, now time.Time, window time.Duration) time.Duration {
	limit = max(limit, 1)
	if WindowedCount(prev, cur, windowStart, now, window) < float64(limit) {
		return 0
	}
	// A negative elapsed (the clock stepped back) is kept: the count stays
	// put until windowStart, and the wait must include that stretch.
	elapsed := now.Sub(windowStart)
	if elapsed >= window {
		// Shift to the window containing now, as WindowedCount did.
		prev, cur, elapsed = cur, 0, elapsed-window
	}
	W, L, e := float64(window), float64(limit), float64(elapsed)
	var at float64 // the offset from the start of now's window at which the count equals limit
	if cur < limit {
		// Still within this window: prev·(1 − t/W) + cur = L.
		at = W * (1 - (L-float64(cur))/float64(prev))
	} else {
		// Only once this window's failures become the previous window's
		// and decay: cur·(1 − (t − W)/W) = L.
		at = W + W*(1-L/float64(cur))
	}
	// The count equals limit at that instant and is still refused there, so
	// the first allowed instant is the next nanosecond.
	wait := time.Duration(math.Floor(at-e)) + 1
	return max(wait, 1)
}
