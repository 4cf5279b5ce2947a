package service_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/service/replica"
)

// closeStore can get stuck in the resync's reads (ignoring its context,
// as a hung driver would) and can refuse the writes of accesses.
type closeStore struct {
	gatehouse.Store
	stuck   atomic.Bool
	release chan struct{}
	entered chan struct{}
	refuse  atomic.Bool
}

func (c *closeStore) Revocations(ctx context.Context, after time.Time) ([]gatehouse.Revocation, error) {
	if c.stuck.Load() {
		select {
		case c.entered <- struct{}{}:
		default:
		}
		<-c.release
	}
	return c.Store.Revocations(ctx, after)
}

func (c *closeStore) RecordAccess(ctx context.Context, as []gatehouse.ClientAccess) error {
	if c.refuse.Load() {
		return errors.New("connection refused")
	}
	return c.Store.RecordAccess(ctx, as)
}

func newCloseStore(t *testing.T) *closeStore {
	cs := &closeStore{Store: openStore(t, t.TempDir()), release: make(chan struct{}), entered: make(chan struct{}, 1)}
	t.Cleanup(func() { close(cs.release) })
	return cs
}

// closingService starts a service that never writes accesses by itself,
// so only Close can, and has the admin issued a token.
func closingService(t *testing.T, store gatehouse.Store) *service.Service {
	t.Helper()
	svc := startServiceWith(t, service.Config{Store: store, AccessFlushInterval: time.Hour, SyncInterval: 10 * time.Millisecond})
	if _, err := svc.Bootstrap(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.IssueToken(t.Context(), adminCred()); err != nil {
		t.Fatal(err)
	}
	return svc
}

// A Close whose deadline passes while background work hangs still writes
// the pending accesses, and says what it gave up on.
func TestCloseWritesAccessesWhenItTimesOut(t *testing.T) {
	store := newCloseStore(t)
	svc := closingService(t, store)
	store.stuck.Store(true)
	<-store.entered // the resync now hangs in the store

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := svc.Close(ctx)
	if !errors.Is(err, service.ErrCloseTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want ErrCloseTimeout", err)
	}
	var unwritten *replica.UnwrittenError
	if errors.As(err, &unwritten) {
		t.Errorf("Close reports unwritten records although the store took them: %v", err)
	}
	c, err := store.Store.GetClient(t.Context(), admin.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if c.LastAccessAt.IsZero() {
		t.Error("the pending access was lost when Close timed out")
	}
}

// A Close that cannot write says how much was lost; a second Close
// returns the first one's result rather than nothing.
func TestCloseReportsUnwrittenAndIsIdempotent(t *testing.T) {
	tests := []struct {
		name         string
		refuse       bool
		wantAccesses int
	}{
		{"written", false, 0},
		{"refused", true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newCloseStore(t)
			svc := closingService(t, store)
			store.refuse.Store(tc.refuse)
			first := svc.Close(t.Context())
			var unwritten *replica.UnwrittenError
			switch {
			case tc.wantAccesses == 0 && first != nil:
				t.Errorf("Close = %v, want nil", first)
			case tc.wantAccesses > 0 && !errors.As(first, &unwritten):
				t.Errorf("Close = %v, want an UnwrittenError", first)
			case tc.wantAccesses > 0 && (unwritten.Accesses != tc.wantAccesses || unwritten.TokenCounts != 0):
				t.Errorf("unwritten = %+v, want %d accesses and no token counts (the store took those)", unwritten, tc.wantAccesses)
			}
			second := svc.Close(t.Context())
			if second != first {
				t.Errorf("second Close = %v, want the first's %v", second, first)
			}
		})
	}
}
