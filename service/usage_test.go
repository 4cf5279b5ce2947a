package service

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/service/replica"
	"github.com/gatehouse-dev/gatehouse/sqlite"
)

func total(hs []HourCount) (n int64) {
	for _, h := range hs {
		n += h.Count
	}
	return n
}

func TestTokenUsageFollowsGetClientRules(t *testing.T) {
	clock := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	svc, admin, _ := consoleTestService(t, func() time.Time { return clock })
	ctx := t.Context()
	a, _, err := svc.CreateClient(ctx, admin, ClientSpec{})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := svc.CreateClient(ctx, admin, ClientSpec{})
	if err != nil {
		t.Fatal(err)
	}
	svc.noteIssue(a.ID, clock)
	svc.noteIssue(a.ID, clock)

	for _, tc := range []struct {
		who  *Principal
		id   string
		want error
		n    int64
	}{
		{admin, a.ID, nil, 2},
		{admin, b.ID, nil, 0},
		{&Principal{Client: a}, a.ID, nil, 2},
		{&Principal{Client: a}, b.ID, gatehouse.ErrForbidden, 0},
		{admin, "missing", gatehouse.ErrNotFound, 0},
		{&Principal{Client: gatehouse.Client{ID: "x", TenantID: "elsewhere", Role: gatehouse.RoleTenantAdmin}}, a.ID, gatehouse.ErrNotFound, 0},
	} {
		got, err := svc.TokenUsage(ctx, tc.who, tc.id)
		if !errors.Is(err, tc.want) || (err == nil && total(got) != tc.n) {
			t.Errorf("%s reads %s: %d tokens, %v; want %d, %v", tc.who.Client.ID, tc.id, total(got), err, tc.n, tc.want)
		}
	}
}

func TestTokenUsageIsPerService(t *testing.T) {
	s1, _, _ := consoleTestService(t, nil)
	s2, _, _ := consoleTestService(t, nil)
	s1.noteIssue("a", time.Now())
	if s1.access == s2.access {
		t.Fatal("two services share a counter")
	}
	if total(s1.access.(*replica.AccessRecorder).UnwrittenUsage("a", time.Now())) != 1 {
		t.Error("the token was not counted by its own service")
	}
	if total(s2.access.(*replica.AccessRecorder).UnwrittenUsage("a", time.Now())) != 0 {
		t.Error("a token of one service counted by another")
	}
}

// BenchmarkNoteIssue is the cost the counter adds to every token issued.
func BenchmarkNoteIssue(b *testing.B) {
	s := &Service{access: replica.NewAccessRecorder(replica.AccessConfig{})}
	ids := make([]string, 64)
	for i := range ids {
		ids[i] = fmt.Sprint("client-", i)
	}
	now := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.noteIssue(ids[i%len(ids)], now)
			i++
		}
	})
}

// usageStore is a store whose AddTokenUsage the tests can break, hold up
// and count.
type usageStore struct {
	gatehouse.Store
	fail atomic.Bool
	adds atomic.Int64
	// If set, the first AddTokenUsage signals on entered, then waits for
	// proceed to be closed.
	entered chan struct{}
	proceed chan struct{}
	hold    sync.Once
}

func (u *usageStore) AddTokenUsage(ctx context.Context, counts []gatehouse.TokenUsage) error {
	u.adds.Add(1)
	if u.entered != nil {
		u.hold.Do(func() {
			u.entered <- struct{}{}
			<-u.proceed
		})
	}
	if u.fail.Load() {
		return errors.New("connection refused")
	}
	return u.Store.AddTokenUsage(ctx, counts)
}

func openUsageStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// usageService starts a service on store with a fixed clock, bootstrapping
// the store's admin if nobody has yet; flushEvery 0 means hourly, which
// leaves flushing to the test.
func usageService(t *testing.T, store gatehouse.Store, now time.Time, flushEvery time.Duration, hooks ...Hooks) (*Service, *Principal) {
	t.Helper()
	if flushEvery == 0 {
		flushEvery = time.Hour
	}
	clock := func() time.Time { return now }
	cfg := Config{
		Sealer: testkit.Sealer(), Store: store, DatacenterURL: "http://dc.test",
		TokenTTL: time.Hour, SyncInterval: time.Hour, Now: clock,
		AccessFlushInterval: flushEvery,
		AuthLimiter:         ratelimit.NewMemory(ratelimit.Config{Now: clock}),
	}
	if len(hooks) > 0 {
		cfg.Hooks = hooks[0]
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	if _, err := svc.Bootstrap(t.Context(), usageAdmin); err != nil {
		t.Fatal(err)
	}
	c, err := svc.lookupClient(t.Context(), usageAdmin.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	return svc, &Principal{Client: c}
}

var usageAdmin = BootstrapCredentials{ClientID: "usage-admin", ClientSecret: gatehouse.NewSecret()}

// issue gets n tokens for the client at the token endpoint's service call.
func issue(t *testing.T, svc *Service, id, secret string, n int) {
	t.Helper()
	for range n {
		if _, err := svc.IssueToken(t.Context(), ClientCredentials{ClientID: id, Secret: secret, Method: gatehouse.AuthSecretBasic, RemoteIP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *Service) flushUsage(ctx context.Context) error {
	return s.access.(*replica.AccessRecorder).FlushUsage(ctx)
}

func usageOf(t *testing.T, svc *Service, p *Principal, id string) []HourCount {
	t.Helper()
	hs, err := svc.TokenUsage(t.Context(), p, id)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

func storedTotal(t *testing.T, store gatehouse.Store, id string) (n int64) {
	t.Helper()
	us, err := store.TokenUsage(t.Context(), id, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		n += u.Count
	}
	return n
}

func TestTokenUsageSurvivesRestart(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	store := openUsageStore(t, path)
	flushed := testkit.NewEvents()
	svc, admin := usageService(t, store, now, 10*time.Millisecond, Hooks{Flushed: func(error) { flushed.Add() }})
	c, secret, err := svc.CreateClient(t.Context(), admin, ClientSpec{})
	if err != nil {
		t.Fatal(err)
	}
	issue(t, svc, c.ID, secret, 3)
	svc.noteIssue(c.ID, now.Add(-time.Hour))
	svc.noteIssue(c.ID, now.Add(-time.Hour))
	// The ticker writes the counts, lazily, without anyone asking: two
	// rounds later, one of them begun after the counting, all are stored.
	flushed.Wait(t, 2, "two rounds of background writes")
	if got := storedTotal(t, store, c.ID); got != 5 {
		t.Fatalf("after the flush interval the store holds %d tokens, want 5", got)
	}
	// Close writes what the ticker has not.
	issue(t, svc, c.ID, secret, 2)
	if err := svc.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	again, admin := usageService(t, openUsageStore(t, path), now.Add(10*time.Minute), 0)
	got := usageOf(t, again, admin, c.ID)
	if got[UsageHours-1].Count != 5 || got[UsageHours-2].Count != 2 || total(got) != 7 {
		t.Errorf("after a restart: %v; want 2 in the previous hour and 5 in this one", got)
	}
	if !got[UsageHours-1].Hour.Equal(time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)) {
		t.Errorf("the last hour is %v", got[UsageHours-1].Hour)
	}
	// 23 hours later the chart has moved on: this hour is its first.
	later, admin := usageService(t, openUsageStore(t, path), now.Add(23*time.Hour), 0)
	if got := usageOf(t, later, admin, c.ID); total(got) != 5 || got[0].Count != 5 {
		t.Errorf("23 hours later: %v; want only this hour's 5, as the first", got)
	}
}

func TestTokenUsageSumsReplicas(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	store := openUsageStore(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	one, admin := usageService(t, store, now, 0)
	two, _ := usageService(t, store, now, 0)
	c, secret, err := one.CreateClient(t.Context(), admin, ClientSpec{})
	if err != nil {
		t.Fatal(err)
	}
	issue(t, one, c.ID, secret, 3)
	issue(t, two, c.ID, secret, 4)
	// Before any flush each replica sees only its own tokens.
	if a, b := total(usageOf(t, one, admin, c.ID)), total(usageOf(t, two, admin, c.ID)); a != 3 || b != 4 {
		t.Errorf("before flushing: %d and %d, want 3 and 4", a, b)
	}
	if err := one.flushUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	if a, b := total(usageOf(t, one, admin, c.ID)), total(usageOf(t, two, admin, c.ID)); a != 3 || b != 7 {
		t.Errorf("after the first replica flushed: %d and %d, want 3 and 7", a, b)
	}
	if err := two.flushUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, svc := range []*Service{one, two} {
		got := usageOf(t, svc, admin, c.ID)
		if got[UsageHours-1].Count != 7 || total(got) != 7 {
			t.Errorf("replica %d after both flushed: %v, want 7 this hour", i+1, got)
		}
	}
	// Flushing again adds nothing: a flush takes the counts it writes.
	if err := one.flushUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := storedTotal(t, store, c.ID); got != 7 {
		t.Errorf("the store holds %d, want 7", got)
	}
}

func TestTokenUsageFlushRetriesAndBatches(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	store := &usageStore{Store: openUsageStore(t, filepath.Join(t.TempDir(), "gatehouse.db"))}
	svc, admin := usageService(t, store, now, 0)
	var ids []string
	for range 5 {
		c, _, err := svc.CreateClient(t.Context(), admin, ClientSpec{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	// Nothing counted, nothing written.
	if err := svc.flushUsage(t.Context()); err != nil || store.adds.Load() != 0 {
		t.Fatalf("an empty flush: %v, %d writes", err, store.adds.Load())
	}
	for _, id := range ids {
		for range 100 {
			svc.noteIssue(id, now)
		}
	}
	store.fail.Store(true)
	if err := svc.flushUsage(t.Context()); err == nil {
		t.Fatal("a failed write reported no error")
	}
	// The counts are kept, still shown, and more add to them.
	svc.noteIssue(ids[0], now)
	store.fail.Store(false)
	if got := total(usageOf(t, svc, admin, ids[0])); got != 101 {
		t.Errorf("after a failed flush the chart shows %d, want 101", got)
	}
	if err := svc.flushUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	// 500 tokens of five clients, in two writes: one a flush.
	if n := store.adds.Load(); n != 2 {
		t.Errorf("%d writes for two flushes, want 2", n)
	}
	for i, id := range ids {
		want := int64(100)
		if i == 0 {
			want = 101
		}
		if got := storedTotal(t, store, id); got != want {
			t.Errorf("client %d: stored %d, want %d", i, got, want)
		}
		if got := total(svc.access.(*replica.AccessRecorder).UnwrittenUsage(id, now)); got != 0 {
			t.Errorf("client %d: %d still in memory after the flush", i, got)
		}
	}
}

// TestTokenUsageReadDuringFlush: counts on their way to the store are
// counted once, neither missed nor doubled, by a read that meets them.
func TestTokenUsageReadDuringFlush(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	store := &usageStore{Store: openUsageStore(t, filepath.Join(t.TempDir(), "gatehouse.db"))}
	svc, admin := usageService(t, store, now, 0)
	c, _, err := svc.CreateClient(t.Context(), admin, ClientSpec{})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		svc.noteIssue(c.ID, now)
	}
	store.entered, store.proceed = make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := svc.flushUsage(context.Background()); err != nil {
			t.Error(err)
		}
	})
	<-store.entered // the counts have left memory and not reached the store
	read := make(chan int64, 1)
	wg.Go(func() {
		hs, err := svc.TokenUsage(context.Background(), admin, c.ID)
		if err != nil {
			t.Error(err)
		}
		read <- total(hs)
	})
	svc.noteIssue(c.ID, now) // the token path does not wait for the flush
	// Give the reader time to meet the flush. Should it come late, it
	// reads after the flush and the test passes without testing much; it
	// cannot fail wrongly.
	time.Sleep(50 * time.Millisecond)
	close(store.proceed)
	wg.Wait()
	if got := <-read; got != 11 {
		t.Errorf("a read during a flush shows %d tokens, want 11", got)
	}
}
