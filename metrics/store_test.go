package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/metrics"
)

// plainStore is a store without a change feed. Only GetClient is
// implemented; any other call panics on the nil embedded interface.
type plainStore struct {
	gatehouse.Store
	gets int
}

func (s *plainStore) GetClient(ctx context.Context, id string) (gatehouse.Client, error) {
	s.gets++
	if id == "missing" {
		return gatehouse.Client{}, gatehouse.ErrNotFound
	}
	return gatehouse.Client{ID: id}, nil
}

// feedStore is a shared store: it has a change feed.
type feedStore struct {
	plainStore
	watched bool
}

func (s *feedStore) WatchChanges(ctx context.Context, fn func(gatehouse.Change)) error {
	s.watched = true
	fn(gatehouse.Change{Kind: gatehouse.ChangeResync})
	return nil
}

func scrape(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d", rec.Code)
	}
	return parseExposition(t, rec.Body.String())
}

const getClientCount = `gatehouse_store_operation_duration_seconds_count{op="GetClient"}`

func TestInstrumentStoreWithoutFeedHasNone(t *testing.T) {
	m := metrics.New()
	inner := &plainStore{}
	s := m.InstrumentStore(inner)
	if _, ok := s.(gatehouse.ChangeFeed); ok {
		t.Fatal("the wrapper of a store without a change feed claims one: the service would distrust its own cache")
	}
	c, err := s.GetClient(context.Background(), "a")
	if err != nil || c.ID != "a" {
		t.Fatalf("GetClient = %+v, %v", c, err)
	}
	// Errors pass through unchanged, so errors.Is still works on them.
	if _, err := s.GetClient(context.Background(), "missing"); !errors.Is(err, gatehouse.ErrNotFound) {
		t.Fatalf("GetClient(missing) = %v, want ErrNotFound", err)
	}
	if inner.gets != 2 {
		t.Fatalf("inner store saw %d calls, want 2", inner.gets)
	}
	if got := scrape(t, m)[getClientCount]; got != 2 {
		t.Fatalf("%s = %v, want 2", getClientCount, got)
	}
}

// The wrapper is a Store only, even of a store that has a change feed: the
// feed reaches the service beside the store (gatehouse.Backend.Changes), so
// nothing may depend on finding it on the store, and the wrapper claiming
// it would only invite that.
func TestInstrumentStoreWrapsOnlyTheStore(t *testing.T) {
	m := metrics.New()
	inner := &feedStore{}
	s := m.InstrumentStore(inner)
	if _, ok := s.(gatehouse.ChangeFeed); ok {
		t.Error("the wrapper of a store passes its change feed on; it should carry the Store alone")
	}
	if inner.watched {
		t.Error("wrapping a store watched its changes")
	}
	if _, err := s.GetClient(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if got := scrape(t, m)[getClientCount]; got != 1 {
		t.Fatalf("%s = %v, want 1", getClientCount, got)
	}
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *metrics.Metrics
	inner := &plainStore{}
	if s := m.InstrumentStore(inner); s != gatehouse.Store(inner) {
		t.Fatal("a nil *Metrics should hand the store back unwrapped")
	}
	m.TokenIssued()
	m.TokenRequestFailed("invalid_client")
	m.BearerChecked(metrics.OutcomeOK)
	m.ObserveRequest("/healthz", http.MethodGet, 200, 0)
}

// TestEveryStoreMethodIsTimed calls each Store method of the wrapper on a
// store that panics at every call (a nil embedded interface) and checks
// that the call was timed anyway: the deferred observation runs while the
// panic unwinds. A method the wrapper only inherits through embedding is
// not timed, and fails here.
func TestEveryStoreMethodIsTimed(t *testing.T) {
	m := metrics.New()
	s := m.InstrumentStore(&plainStore{})
	v := reflect.ValueOf(s)
	for method := range reflect.TypeFor[gatehouse.Store]().Methods() {
		if method.Name == "Close" {
			continue
		}
		fn := v.MethodByName(method.Name)
		args := make([]reflect.Value, fn.Type().NumIn())
		for i := range args {
			args[i] = reflect.Zero(fn.Type().In(i))
		}
		args[0] = reflect.ValueOf(context.Background())
		func() {
			defer func() { _ = recover() }()
			fn.Call(args)
		}()
		key := `gatehouse_store_operation_duration_seconds_count{op="` + method.Name + `"}`
		if got, ok := scrape(t, m)[key]; !ok || got != 1 {
			t.Errorf("%s is not timed: %s = %v (present %v)", method.Name, key, got, ok)
		}
	}
}
