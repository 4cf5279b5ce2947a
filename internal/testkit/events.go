package testkit

import (
	"sync/atomic"
	"testing"
	"time"
)

// Events counts the calls of a hook of the service's background work
// (service.Hooks), so that a test waits for that work to have happened
// rather than sleeping for a while and hoping it did.
type Events struct {
	n    atomic.Int64
	kick chan struct{}
}

// NewEvents returns a counter at zero.
func NewEvents() *Events { return &Events{kick: make(chan struct{}, 1)} }

// Add counts one event; it never blocks the background work.
func (e *Events) Add() {
	e.n.Add(1)
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Count is the number of events so far.
func (e *Events) Count() int64 { return e.n.Load() }

// Wait returns once n more events than now have happened, and fails the
// test after a generous deadline.
func (e *Events) Wait(t testing.TB, n int64, what string) {
	t.Helper()
	e.Until(t, e.n.Load()+n, what)
}

// Until returns once the count has reached n, and fails the test after a
// generous deadline.
func (e *Events) Until(t testing.TB, n int64, what string) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for e.n.Load() < n {
		select {
		case <-e.kick:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s (%d of %d)", what, e.n.Load(), n)
		}
	}
}
