package metrics

import (
	"context"
	"reflect"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse"
)

// storeOps are the op label values: the Store methods by their Go names,
// all but Close. They are read off the interface so that a method added to
// Store gets its series at once; TestEveryStoreMethodIsTimed fails until
// the wrapper times it too. Each series exists from the start, so a
// dashboard shows an idle operation as zero rather than as no data.
var storeOps = func() []string {
	t := reflect.TypeFor[gatehouse.Store]()
	ops := make([]string, 0, t.NumMethod())
	for m := range t.Methods() {
		if m.Name != "Close" {
			ops = append(ops, m.Name)
		}
	}
	return ops
}()

// InstrumentStore returns store with every call timed into
// gatehouse_store_operation_duration_seconds{op}. On a nil *Metrics it
// returns store itself.
//
// It wraps the Store and nothing else: a backend's change feed and limiter
// travel beside the store (gatehouse.Backend), so the wrapper needs to
// neither keep nor hide them.
func (m *Metrics) InstrumentStore(store gatehouse.Store) gatehouse.Store {
	if m == nil {
		return store
	}
	obs := make(map[string]prometheus.Observer, len(storeOps))
	for _, op := range storeOps {
		obs[op] = m.storeDuration.WithLabelValues(op)
	}
	return &instrumentedStore{Store: store, next: store, obs: obs}
}

var _ gatehouse.Store = (*instrumentedStore)(nil)

// instrumentedStore times the calls of a store.
//
// It embeds the store so that a method added to the Store interface still
// compiles and passes through, untimed, until a timed method is written
// for it here; the methods below shadow the embedded ones.
type instrumentedStore struct {
	gatehouse.Store
	next gatehouse.Store
	obs  map[string]prometheus.Observer
}

// done observes the time since start; call it deferred, with start taken
// when the call began.
func (s *instrumentedStore) done(op string, start time.Time) {
	s.obs[op].Observe(time.Since(start).Seconds())
}

func (s *instrumentedStore) Bootstrap(ctx context.Context, root gatehouse.Tenant, admin gatehouse.Client) (bool, error) {
	defer s.done("Bootstrap", time.Now())
	return s.next.Bootstrap(ctx, root, admin)
}

func (s *instrumentedStore) CreateTenant(ctx context.Context, t gatehouse.Tenant, audit gatehouse.AuditEntry) error {
	defer s.done("CreateTenant", time.Now())
	return s.next.CreateTenant(ctx, t, audit)
}

func (s *instrumentedStore) GetTenant(ctx context.Context, id string) (gatehouse.Tenant, error) {
	defer s.done("GetTenant", time.Now())
	return s.next.GetTenant(ctx, id)
}

func (s *instrumentedStore) RootTenant(ctx context.Context) (gatehouse.Tenant, error) {
	defer s.done("RootTenant", time.Now())
	return s.next.RootTenant(ctx)
}

func (s *instrumentedStore) UpdateTenant(ctx context.Context, id string, fn func(gatehouse.Tenant) (gatehouse.Tenant, error), audit gatehouse.AuditEntry) (gatehouse.Tenant, error) {
	defer s.done("UpdateTenant", time.Now())
	return s.next.UpdateTenant(ctx, id, fn, audit)
}

func (s *instrumentedStore) ListTenantChildren(ctx context.Context, parentID string) ([]gatehouse.Tenant, error) {
	defer s.done("ListTenantChildren", time.Now())
	return s.next.ListTenantChildren(ctx, parentID)
}

func (s *instrumentedStore) TenantAncestry(ctx context.Context, id string) ([]gatehouse.Tenant, error) {
	defer s.done("TenantAncestry", time.Now())
	return s.next.TenantAncestry(ctx, id)
}

func (s *instrumentedStore) CreateClient(ctx context.Context, c gatehouse.Client, audit gatehouse.AuditEntry) error {
	defer s.done("CreateClient", time.Now())
	return s.next.CreateClient(ctx, c, audit)
}

func (s *instrumentedStore) GetClient(ctx context.Context, id string) (gatehouse.Client, error) {
	defer s.done("GetClient", time.Now())
	return s.next.GetClient(ctx, id)
}

func (s *instrumentedStore) ListClients(ctx context.Context, f gatehouse.ClientFilter) ([]gatehouse.Client, error) {
	defer s.done("ListClients", time.Now())
	return s.next.ListClients(ctx, f)
}

func (s *instrumentedStore) UpdateClient(ctx context.Context, id string, fn func(gatehouse.Client) (gatehouse.Client, error), audit gatehouse.AuditEntry) (gatehouse.Client, error) {
	defer s.done("UpdateClient", time.Now())
	return s.next.UpdateClient(ctx, id, fn, audit)
}

func (s *instrumentedStore) DeleteClient(ctx context.Context, id string, audit gatehouse.AuditEntry) error {
	defer s.done("DeleteClient", time.Now())
	return s.next.DeleteClient(ctx, id, audit)
}

func (s *instrumentedStore) RecordAccess(ctx context.Context, accesses []gatehouse.ClientAccess) error {
	defer s.done("RecordAccess", time.Now())
	return s.next.RecordAccess(ctx, accesses)
}

func (s *instrumentedStore) AddTokenUsage(ctx context.Context, counts []gatehouse.TokenUsage) error {
	defer s.done("AddTokenUsage", time.Now())
	return s.next.AddTokenUsage(ctx, counts)
}

func (s *instrumentedStore) TokenUsage(ctx context.Context, clientID string, since time.Time) ([]gatehouse.TokenUsage, error) {
	defer s.done("TokenUsage", time.Now())
	return s.next.TokenUsage(ctx, clientID, since)
}

func (s *instrumentedStore) SigningKeys(ctx context.Context) ([]gatehouse.SigningKey, error) {
	defer s.done("SigningKeys", time.Now())
	return s.next.SigningKeys(ctx)
}

func (s *instrumentedStore) UpdateSigningKeys(ctx context.Context, fn func([]gatehouse.SigningKey) ([]gatehouse.SigningKey, error), audit gatehouse.AuditEntry) error {
	defer s.done("UpdateSigningKeys", time.Now())
	return s.next.UpdateSigningKeys(ctx, fn, audit)
}

func (s *instrumentedStore) AppendAudit(ctx context.Context, e gatehouse.AuditEntry) error {
	defer s.done("AppendAudit", time.Now())
	return s.next.AppendAudit(ctx, e)
}

func (s *instrumentedStore) ListAudit(ctx context.Context, f gatehouse.AuditFilter) ([]gatehouse.AuditEntry, error) {
	defer s.done("ListAudit", time.Now())
	return s.next.ListAudit(ctx, f)
}

func (s *instrumentedStore) RevokeToken(ctx context.Context, r gatehouse.Revocation, audit gatehouse.AuditEntry) error {
	defer s.done("RevokeToken", time.Now())
	return s.next.RevokeToken(ctx, r, audit)
}

func (s *instrumentedStore) Revocations(ctx context.Context, now time.Time) ([]gatehouse.Revocation, error) {
	defer s.done("Revocations", time.Now())
	return s.next.Revocations(ctx, now)
}

func (s *instrumentedStore) PurgeRevocations(ctx context.Context, cutoff time.Time) (int, error) {
	defer s.done("PurgeRevocations", time.Now())
	return s.next.PurgeRevocations(ctx, cutoff)
}

func (s *instrumentedStore) AdvanceRevocationHorizon(ctx context.Context, at time.Time) (time.Time, error) {
	defer s.done("AdvanceRevocationHorizon", time.Now())
	return s.next.AdvanceRevocationHorizon(ctx, at)
}

func (s *instrumentedStore) Ping(ctx context.Context) error {
	defer s.done("Ping", time.Now())
	return s.next.Ping(ctx)
}

func (s *instrumentedStore) Heartbeat(ctx context.Context, at time.Time) error {
	defer s.done("Heartbeat", time.Now())
	return s.next.Heartbeat(ctx, at)
}

// Close is not timed: it happens once, at shutdown, when no one scrapes.
func (s *instrumentedStore) Close() error { return s.next.Close() }
