package testkit

import (
	"sync"
	"time"
)

// Clock is a settable clock, shared by a test and what it injects the
// clock into (a data center, a limiter, a client); every test that moves
// time by hand uses it.
//
// It is two clocks, as a machine has: the wall clock (Now), which an
// operator or NTP can step, and a monotonic one (Elapsed), which only
// counts time passing. Advance is time passing; Step and Set are the wall
// clock being stepped, time not passing at all.
type Clock struct {
	mu      sync.Mutex
	t       time.Time
	elapsed time.Duration
}

// NewClock returns a clock that reads t until moved.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now reads the wall clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Elapsed reads the monotonic clock: how much time has passed, by
// Advance, since the clock was made.
func (c *Clock) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.elapsed
}

// Set steps the wall clock to t; no time passes.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Step moves the wall clock by d, either way, as an NTP correction or a
// VM resumed with a stale clock does; no time passes.
func (c *Clock) Step(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Advance lets d pass: both clocks move on by d. Time cannot pass
// backwards, so a negative d is a Step.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.elapsed += max(d, 0)
	c.mu.Unlock()
}
