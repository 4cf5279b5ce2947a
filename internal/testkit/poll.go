package testkit

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond every 10ms until it holds, failing the test after
// deadline, and returns how long it took. It is for waiting on other
// processes; in-process background work is waited for with Events.
func Eventually(t testing.TB, what string, deadline time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > deadline {
			t.Fatalf("%s: not within %s", what, deadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("%s: %s", what, took.Round(time.Millisecond))
	return took
}

// SyncBuffer collects output written from other goroutines (a logger, a
// child process's copier) while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
