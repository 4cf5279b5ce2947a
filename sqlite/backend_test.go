package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/ratelimit"
)

// The SQLite backend is one process's: no feed, an in-memory limiter with
// the limits asked for, and Close closes the store.
func TestOpenBackend(t *testing.T) {
	b, err := OpenBackend(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"), ratelimit.Config{Limit: 2, Window: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if b.Changes != nil {
		t.Error("a SQLite backend has a change feed; the service would distrust its own cache")
	}
	if err := b.Store.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	for range 2 {
		if err := b.Limiter.Fail(t.Context(), "ip:192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := b.Limiter.Allowed(t.Context(), "ip:192.0.2.1"); err != nil || d == 0 {
		t.Errorf("after 2 failures with a limit of 2: Allowed = %v, %v; want a refusal", d, err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Store.Ping(t.Context()); err == nil {
		t.Error("the store still answers after the backend was closed")
	}
}
