package storetest_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/storetest"
)

// TestSuiteAgainstMemoryStore runs the suite against a minimal in-memory
// store, which shows the suite asks nothing of a backend beyond the
// Store contract: no SQL, no particular locking scheme.
func TestSuiteAgainstMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) gatehouse.Store { return newMemStore() })
}

func TestAuditAtomicityAgainstMemoryStore(t *testing.T) {
	storetest.RunAuditAtomicity(t,
		func(t *testing.T) gatehouse.Store { return newMemStore() },
		func(t *testing.T, s gatehouse.Store) { s.(*memStore).failAudit = true })
}

// memStore keeps everything behind one lock. The lock is a channel so that a
// caller waiting for it can give up when its context ends.
type memStore struct {
	lock       chan struct{}
	tenants    map[string]gatehouse.Tenant
	clients    map[string]gatehouse.Client
	tombstones map[string]bool
	keys       []gatehouse.SigningKey
	revoked    map[string]gatehouse.Revocation
	audit      []gatehouse.AuditEntry // oldest first; Seq is the index + 1
	usage      map[usageKey]int64
	horizon    time.Time
	// failAudit makes recording an audit entry fail, as a broken audit
	// table would in a database, for RunAuditAtomicity.
	failAudit bool
}

var (
	_ gatehouse.Store = (*memStore)(nil)
)

func newMemStore() *memStore {
	return &memStore{
		lock:       make(chan struct{}, 1),
		tenants:    map[string]gatehouse.Tenant{},
		clients:    map[string]gatehouse.Client{},
		tombstones: map[string]bool{},
		revoked:    map[string]gatehouse.Revocation{},
		usage:      map[usageKey]int64{},
	}
}

func (m *memStore) acquire(ctx context.Context) error {
	// Checked first: select picks at random among ready cases, and a free
	// lock must not win over a context that has already ended.
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case m.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *memStore) release() { <-m.lock }

// recordAudit appends e unless it is NoAudit. Changes call it
// with the lock held, once every check has passed and just before they
// change anything, so that a change and its entry happen together or not at
// all: after it, nothing can fail.
func (m *memStore) recordAudit(e gatehouse.AuditEntry) error {
	if e.IsZero() {
		return nil
	}
	return m.appendAudit(e)
}

func (m *memStore) appendAudit(e gatehouse.AuditEntry) error {
	if e.TenantID == "" {
		return fmt.Errorf("audit entry names no tenant: %w", gatehouse.ErrInvalid)
	}
	if m.failAudit {
		return errors.New("memstore: audit log is broken")
	}
	e.Seq = int64(len(m.audit)) + 1
	e.Time = normTime(e.Time)
	m.audit = append(m.audit, e)
	return nil
}

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Microsecond).UTC()
}

func normClient(c gatehouse.Client) gatehouse.Client {
	c.Data = bytes.Clone(c.Data)
	c.SecretHash = bytes.Clone(c.SecretHash)
	c.CreatedAt, c.UpdatedAt, c.LastAccessAt = normTime(c.CreatedAt), normTime(c.UpdatedAt), normTime(c.LastAccessAt)
	return c
}

func normTenant(t gatehouse.Tenant) gatehouse.Tenant {
	t.CreatedAt, t.UpdatedAt = normTime(t.CreatedAt), normTime(t.UpdatedAt)
	return t
}

func (m *memStore) Bootstrap(ctx context.Context, root gatehouse.Tenant, admin gatehouse.Client) (bool, error) {
	if err := m.acquire(ctx); err != nil {
		return false, err
	}
	defer m.release()
	if len(m.tenants) > 0 {
		return false, nil
	}
	if admin.TenantID != root.ID {
		return false, fmt.Errorf("admin outside the root tenant: %w", gatehouse.ErrInvalid)
	}
	m.tenants[root.ID] = normTenant(root)
	m.clients[admin.ID] = normClient(admin)
	return true, nil
}

func (m *memStore) CreateTenant(ctx context.Context, t gatehouse.Tenant, audit gatehouse.AuditEntry) error {
	if err := m.acquire(ctx); err != nil {
		return err
	}
	defer m.release()
	if _, ok := m.tenants[t.ID]; ok {
		return fmt.Errorf("tenant %q: %w", t.ID, gatehouse.ErrConflict)
	}
	// A tenant naming itself as its parent finds no parent either: the
	// check comes before the insert.
	if _, ok := m.tenants[t.ParentID]; t.ParentID != "" && !ok {
		return fmt.Errorf("parent of %q: %w", t.ID, gatehouse.ErrConflict)
	}
	if err := m.recordAudit(audit); err != nil {
		return err
	}
	m.tenants[t.ID] = normTenant(t)
	return nil
}

func (m *memStore) UpdateTenant(ctx context.Context, id string, fn func(gatehouse.Tenant) (gatehouse.Tenant, error), audit gatehouse.AuditEntry) (gatehouse.Tenant, error) {
	if err := m.acquire(ctx); err != nil {
		return gatehouse.Tenant{}, err
	}
	defer m.release()
	cur, ok := m.tenants[id]
	if !ok {
		return gatehouse.Tenant{}, fmt.Errorf("tenant %q: %w", id, gatehouse.ErrNotFound)
	}
	next, err := fn(cur)
	if err != nil {
		return gatehouse.Tenant{}, err
	}
	if err := m.recordAudit(audit); err != nil {
		return gatehouse.Tenant{}, err
	}
	next.ID, next.ParentID, next.CreatedAt = cur.ID, cur.ParentID, cur.CreatedAt
	next = normTenant(next)
	m.tenants[id] = next
	return next, nil
}

func (m *memStore) ListTenantChildren(ctx context.Context, parentID string) ([]gatehouse.Tenant, error) {
	if err := m.acquire(ctx); err != nil {
		return nil, err
	}
	defer m.release()
	out := []gatehouse.Tenant{}
	for _, t := range m.tenants {
		if t.ParentID != "" && t.ParentID == parentID {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b gatehouse.Tenant) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func (m *memStore) TenantAncestry(ctx context.Context, id string) ([]gatehouse.Tenant, error) {
	if err := m.acquire(ctx); err != nil {
		return nil, err
	}
	defer m.release()
	var out []gatehouse.Tenant
	for next := id; next != ""; {
		t, ok := m.tenants[next]
		if !ok {
			break
		}
		out = append(out, t)
		next = t.ParentID
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("tenant %q: %w", id, gatehouse.ErrNotFound)
	}
	return out, nil
}

func (m *memStore) RootTenant(ctx context.Context) (gatehouse.Tenant, error) {
	if err := m.acquire(ctx); err != nil {
		return gatehouse.Tenant{}, err
	}
	defer m.release()
	var root gatehouse.Tenant
	found := false
	for _, t := range m.tenants {
		if t.ParentID != "" {
			continue
		}
		if !found || cmp.Or(t.CreatedAt.Compare(root.CreatedAt), cmp.Compare(t.ID, root.ID)) < 0 {
			root, found = t, true
		}
	}
	if !found {
		return gatehouse.Tenant{}, fmt.Errorf("root tenant: %w", gatehouse.ErrNotFound)
	}
	return root, nil
}

func (m *memStore) GetTenant(ctx context.Context, id string) (gatehouse.Tenant, error) {
	if err := m.acquire(ctx); err != nil {
		return gatehouse.Tenant{}, err
	}
	defer m.release()
	t, ok := m.tenants[id]
	if !ok {
		return gatehouse.Tenant{}, fmt.Errorf("tenant %q: %w", id, gatehouse.ErrNotFound)
	}
	return t, nil
}

func (m *memStore) CreateClient(ctx context.Context, c gatehouse.Client, audit gatehouse.AuditEntry) error {
	if err := m.acquire(ctx); err != nil {
		return err
	}
	defer m.release()
	if _, ok := m.clients[c.ID]; ok || m.tombstones[c.ID] {
		return fmt.Errorf("client %q: %w", c.ID, gatehouse.ErrConflict)
	}
	if _, ok := m.tenants[c.TenantID]; !ok {
		return fmt.Errorf("tenant of %q: %w", c.ID, gatehouse.ErrConflict)
	}
	if err := m.recordAudit(audit); err != nil {
		return err
	}
	m.clients[c.ID] = normClient(c)
	return nil
}

func (m *memStore) GetClient(ctx context.Context, id string) (gatehouse.Client, error) {
	if err := m.acquire(ctx); err != nil {
		return gatehouse.Client{}, err
	}
	defer m.release()
	c, ok := m.clients[id]
	if !ok {
		return gatehouse.Client{}, fmt.Errorf("client %q: %w", id, gatehouse.ErrNotFound)
	}
	return normClient(c), nil
}

// matchesText is ClientFilter.Text's rule: a substring of the id or the
// name, ASCII letters folded.
func matchesText(c gatehouse.Client, text string) bool {
	fold := func(s string) string {
		return strings.Map(func(r rune) rune {
			if 'A' <= r && r <= 'Z' {
				return r + ('a' - 'A')
			}
			return r
		}, s)
	}
	t := fold(text)
	return strings.Contains(fold(c.ID), t) || strings.Contains(fold(c.Name()), t)
}

func (m *memStore) ListClients(ctx context.Context, f gatehouse.ClientFilter) ([]gatehouse.Client, error) {
	if f.TenantID == "" {
		return nil, fmt.Errorf("tenant id required: %w", gatehouse.ErrInvalid)
	}
	if err := m.acquire(ctx); err != nil {
		return nil, err
	}
	defer m.release()
	limit := f.Limit
	if limit <= 0 {
		limit = gatehouse.DefaultPageSize
	}
	limit = min(limit, gatehouse.MaxListRows)
	var out []gatehouse.Client
	for _, c := range m.clients {
		if c.TenantID == f.TenantID && c.ID > f.After && matchesText(c, f.Text) {
			out = append(out, normClient(c))
		}
	}
	slices.SortFunc(out, func(a, b gatehouse.Client) int { return cmp.Compare(a.ID, b.ID) })
	return out[:min(limit, len(out))], nil
}

func (m *memStore) UpdateClient(ctx context.Context, id string, fn func(gatehouse.Client) (gatehouse.Client, error), audit gatehouse.AuditEntry) (gatehouse.Client, error) {
	if err := m.acquire(ctx); err != nil {
		return gatehouse.Client{}, err
	}
	defer m.release()
	cur, ok := m.clients[id]
	if !ok {
		return gatehouse.Client{}, fmt.Errorf("client %q: %w", id, gatehouse.ErrNotFound)
	}
	next, err := fn(normClient(cur))
	if err != nil {
		return gatehouse.Client{}, err
	}
	if err := m.recordAudit(audit); err != nil {
		return gatehouse.Client{}, err
	}
	next.ID, next.TenantID, next.CreatedAt, next.CreatedBy = cur.ID, cur.TenantID, cur.CreatedAt, cur.CreatedBy
	next.LastAccessAt, next.LastAccessFromIP = cur.LastAccessAt, cur.LastAccessFromIP
	m.clients[id] = normClient(next)
	return normClient(next), nil
}

func (m *memStore) DeleteClient(ctx context.Context, id string, audit gatehouse.AuditEntry) error {
	if err := m.acquire(ctx); err != nil {
		return err
	}
	defer m.release()
	if _, ok := m.clients[id]; !ok {
		return fmt.Errorf("client %q: %w", id, gatehouse.ErrNotFound)
	}
	if err := m.recordAudit(audit); err != nil {
		return err
	}
	delete(m.clients, id)
	m.tombstones[id] = true
	for k := range m.usage {
		if k.client == id {
			delete(m.usage, k)
		}
	}
	return nil
}

func (m *memStore) RecordAccess(ctx context.Context, accesses []gatehouse.ClientAccess) error {
	if err := m.acquire(ctx); err != nil {
		return err
	}
	defer m.release()
	for _, a := range accesses {
		c, ok := m.clients[a.ClientID]
		if !ok || a.At.IsZero() || !normTime(a.At).After(c.LastAccessAt) {
			continue
		}
		c.LastAccessAt, c.LastAccessFromIP = normTime(a.At), a.FromIP
		m.clients[a.ClientID] = c
	}
	return nil
}

type usageKey struct {
	client string
	hour   int64 // Unix seconds of the start of the hour
}

func (m *memStore) AddTokenUsage(ctx context.Context, counts []gatehouse.TokenUsage) error {
	if err := m.acquire(ctx); err != nil {
		return err
	}
	defer m.release()
	newest, seen := int64(math.MinInt64), false
	for _, u := range counts {
		if u.ClientID == "" || u.Hour.IsZero() || u.Count < 1 {
			continue
		}
		h := u.Hour.Truncate(time.Hour).Unix()
		newest, seen = max(newest, h), true
		if _, ok := m.clients[u.ClientID]; ok {
			m.usage[usageKey{u.ClientID, h}] += u.Count
		}
	}
	if seen {
		cutoff := newest - int64(gatehouse.TokenUsageRetention/time.Second)
		purged := 0
		for k := range m.usage {
			if k.hour < cutoff && purged < gatehouse.TokenUsagePurgeBatch {
				delete(m.usage, k)
				purged++
			}
		}
	}
	return nil
}

func (m *memStore) TokenUsage(ctx context.Context, clientID string, since time.Time) ([]gatehouse.TokenUsage, error) {
	if err := m.acquire(ctx); err != nil {
		return nil, err
	}
	defer m.release()
	var out []gatehouse.TokenUsage
	for k, n := range m.usage {
		if hour := time.Unix(k.hour, 0).UTC(); k.client == clientID && !hour.Before(since) {
			out = append(out, gatehouse.TokenUsage{ClientID: clientID, Hour: hour, Count: n})
		}
	}
	slices.SortFunc(out, func(a, b gatehouse.TokenUsage) int { return a.Hour.Compare(b.Hour) })
	return out, nil
}

func (m *memStore) SigningKeys(ctx context.Context) ([]gatehouse.SigningKey, error) {
	if err := m.acquire(ctx); err != nil {
		return nil, err
	}
	defer m.release()
	return m.sortedKeys(), nil
}

// sortedKeys copies the key set, oldest first; the caller holds the lock.
func (m *memStore) sortedKeys() []gatehouse.SigningKey {
	out := gatehouse.CloneSigningKeys(m.keys)
	slices.SortFunc(out, func(a, b gatehouse.SigningKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}

func (m *memStore) UpdateSigningKeys(ctx context.Context, fn func([]gatehouse.SigningKey) ([]gatehouse.SigningKey, error), audit gatehouse.AuditEntry) error {
	if err := m.acquire(ctx); err != nil {
		return err
	}
	defer m.release()
	current := m.sortedKeys()
	next, err := fn(gatehouse.CloneSigningKeys(current))
	if err != nil {
		return err
	}
	c, err := gatehouse.DiffSigningKeys(current, next)
	if err != nil || c.Empty() {
		return err
	}
	if err := m.recordAudit(audit); err != nil {
		return err
	}
	for _, k := range c.Retired {
		i := slices.IndexFunc(m.keys, func(o gatehouse.SigningKey) bool { return o.ID == k.ID })
		m.keys[i].RetireAt = normTime(k.RetireAt)
	}
	for _, k := range c.Added {
		k.PrivateKey = bytes.Clone(k.PrivateKey)
		k.CreatedAt, k.ActiveAt, k.RetireAt = normTime(k.CreatedAt), normTime(k.ActiveAt), normTime(k.RetireAt)
		m.keys = append(m.keys, k)
	}
	return nil
}

func (m *memStore) AppendAudit(ctx context.Context, e gatehouse.AuditEntry) error {
	if err := m.acquire(ctx); err != nil {
		return err
	}
	defer m.release()
	return m.appendAudit(e)
}

func (m *memStore) ListAudit(ctx context.Context, f gatehouse.AuditFilter) ([]gatehouse.AuditEntry, error) {
	if f.TenantID == "" || f.Before < 0 {
		return nil, fmt.Errorf("list audit: no tenant or a negative cursor: %w", gatehouse.ErrInvalid)
	}
	if err := m.acquire(ctx); err != nil {
		return nil, err
	}
	defer m.release()
	limit := f.Limit
	if limit <= 0 {
		limit = gatehouse.DefaultPageSize
	}
	limit = min(limit, gatehouse.MaxListRows)
	out := []gatehouse.AuditEntry{}
	for i := len(m.audit) - 1; i >= 0 && len(out) < limit; i-- {
		e := m.audit[i]
		if e.TenantID == f.TenantID && (f.Target == "" || e.Target == f.Target) && (f.Before == 0 || e.Seq < f.Before) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memStore) RevokeToken(ctx context.Context, r gatehouse.Revocation, audit gatehouse.AuditEntry) error {
	if err := m.acquire(ctx); err != nil {
		return err
	}
	defer m.release()
	if r.TokenID == "" {
		return fmt.Errorf("revoke: no token id: %w", gatehouse.ErrInvalid)
	}
	// Recorded whether or not the token was revoked before: the request
	// was made and honored either way.
	if err := m.recordAudit(audit); err != nil {
		return err
	}
	if _, ok := m.revoked[r.TokenID]; !ok {
		r.ExpiresAt, r.RevokedAt = normTime(r.ExpiresAt), normTime(r.RevokedAt)
		m.revoked[r.TokenID] = r
	}
	return nil
}

func (m *memStore) Revocations(ctx context.Context, now time.Time) ([]gatehouse.Revocation, error) {
	if err := m.acquire(ctx); err != nil {
		return nil, err
	}
	defer m.release()
	var out []gatehouse.Revocation
	for _, r := range m.revoked {
		if r.ExpiresAt.After(now) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b gatehouse.Revocation) int {
		return cmp.Or(a.ExpiresAt.Compare(b.ExpiresAt), cmp.Compare(a.TokenID, b.TokenID))
	})
	return out, nil
}

func (m *memStore) PurgeRevocations(ctx context.Context, cutoff time.Time) (int, error) {
	if err := m.acquire(ctx); err != nil {
		return 0, err
	}
	defer m.release()
	var expired []gatehouse.Revocation
	for _, r := range m.revoked {
		if r.ExpiresAt.Before(cutoff) {
			expired = append(expired, r)
		}
	}
	slices.SortFunc(expired, func(a, b gatehouse.Revocation) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	expired = expired[:min(len(expired), gatehouse.RevocationPurgeBatch)]
	for _, r := range expired {
		delete(m.revoked, r.TokenID)
	}
	return len(expired), nil
}

func (m *memStore) AdvanceRevocationHorizon(ctx context.Context, at time.Time) (time.Time, error) {
	if err := m.acquire(ctx); err != nil {
		return time.Time{}, err
	}
	defer m.release()
	if at = normTime(at); at.After(m.horizon) {
		m.horizon = at
	}
	return m.horizon, nil
}

func (m *memStore) Ping(ctx context.Context) error { return ctx.Err() }

func (m *memStore) Heartbeat(ctx context.Context, at time.Time) error { return ctx.Err() }

func (m *memStore) Close() error { return nil }
