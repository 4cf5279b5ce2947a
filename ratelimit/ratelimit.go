// Package ratelimit limits failed client authentications, so that guessing
// secrets, or just burning CPU on wrong ones, is slow for everyone who tries.
//
// Only failures are counted, and a success does not reset the count: a
// limiter that forgot failures on success would let an attacker who holds one
// valid client interleave its logins with guesses against another client from
// the same address. Callers ask Allowed before checking the credentials and
// call Fail after a failed check; a refused request is not checked, so it is
// not counted either, and a key under attack regains one attempt at a time as
// its window slides rather than staying locked for as long as the attack
// lasts.
//
// The count is a sliding-window counter: the failures of the current fixed
// window plus those of the previous one, weighted by how much of the previous
// window still overlaps the sliding one (see WindowedCount). It needs two
// counters per key, is exact when failures are spread evenly, and never
// allows more than twice the limit within any window-long span, unlike a
// plain fixed window, which allows a burst at each window boundary.
package ratelimit

import (
	"time"
)

// Defaults of Config.
const (
	DefaultLimit   = 20
	DefaultWindow  = time.Minute
	DefaultMaxKeys = 100_000
)

// Config configures a Limiter. Zero and negative values take the defaults.
type Config struct {
	// Limit is how many failures a key may have per Window. Once a key has
	// Limit failures in the sliding window, Allowed refuses it until the
	// count decays below Limit.
	Limit int
	// Window is the length of the sliding window. Windows are aligned to
	// multiples of Window since the zero time, so replicas sharing counts in
	// a database agree on them.
	Window time.Duration
	// MaxKeys bounds how many keys an in-memory limiter remembers, so a flood
	// of made-up client ids cannot exhaust memory.
	MaxKeys int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// WithDefaults returns c with every unset field set to its default.
func (c Config) WithDefaults() Config {
	if c.Limit <= 0 {
		c.Limit = DefaultLimit
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
