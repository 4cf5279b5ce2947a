package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// tenantAt is a tenant of the suite's tree, created at the given offset.
func tenantAt(id, parentID string, created time.Duration) gatehouse.Tenant {
	return gatehouse.Tenant{
		ID: id, ParentID: parentID, Name: "Tenant " + id, Kind: "customer",
		Enabled: true, Version: 1, Generation: 0,
		CreatedAt: at(created), UpdatedAt: at(created + time.Microsecond),
	}
}

func mustCreateTenant(t *testing.T, s gatehouse.Store, tn gatehouse.Tenant) gatehouse.Tenant {
	t.Helper()
	if err := s.CreateTenant(t.Context(), tn, gatehouse.NoAudit); err != nil {
		t.Fatalf("CreateTenant(%q): %v", tn.ID, err)
	}
	return tn
}

func mustGetTenant(t *testing.T, s gatehouse.Store, id string) gatehouse.Tenant {
	t.Helper()
	tn, err := s.GetTenant(t.Context(), id)
	if err != nil {
		t.Fatalf("GetTenant(%q): %v", id, err)
	}
	return tn
}

func tenantIDs(ts []gatehouse.Tenant) []string {
	out := make([]string, len(ts))
	for i, tn := range ts {
		out[i] = tn.ID
	}
	return out
}

// chainOf builds root → a → b → c below the bootstrapped root and returns
// the four, root first.
func chainOf(t *testing.T, s gatehouse.Store) []gatehouse.Tenant {
	t.Helper()
	root, _ := bootstrap(t, s)
	a := mustCreateTenant(t, s, tenantAt("a", root.ID, time.Hour))
	b := mustCreateTenant(t, s, tenantAt("b", a.ID, 2*time.Hour))
	c := mustCreateTenant(t, s, tenantAt("c", b.ID, 3*time.Hour))
	return []gatehouse.Tenant{root, a, b, c}
}

var errFromTenantFn = errors.New("refused by fn")

var tenantTreeTests = []test{
	{"CreateTenant/GenerationRoundTrip", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		tn := tenantAt("gen", root.ID, time.Hour)
		tn.Generation, tn.Version, tn.Enabled = 7, 12, false
		mustCreateTenant(t, s, tn)
		sameTenant(t, "tenant with a generation", mustGetTenant(t, s, tn.ID), tn)
	}},

	{"CreateTenant/UnknownOrOwnParent", func(t *testing.T, s gatehouse.Store) {
		bootstrap(t, s)
		for _, tn := range []gatehouse.Tenant{
			tenantAt("orphan", "no-such-parent", 0),
			// A row naming itself satisfies a foreign key checked after the
			// insert; the store must refuse it anyway, or the tree gets a
			// tenant without a root.
			tenantAt("narcissus", "narcissus", 0),
		} {
			if err := s.CreateTenant(t.Context(), tn, gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrConflict) {
				t.Errorf("CreateTenant(%q with parent %q): error = %v, want ErrConflict", tn.ID, tn.ParentID, err)
			}
			if _, err := s.GetTenant(t.Context(), tn.ID); !errors.Is(err, gatehouse.ErrNotFound) {
				t.Errorf("GetTenant(%q) after the refused create: error = %v, want ErrNotFound", tn.ID, err)
			}
		}
	}},

	{"UpdateTenant/AppliesFnAndKeepsIdentity", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		child := mustCreateTenant(t, s, tenantAt("child", root.ID, time.Hour))
		other := mustCreateTenant(t, s, tenantAt("other", root.ID, time.Hour))
		calls := 0
		got, err := s.UpdateTenant(t.Context(), child.ID, func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
			calls++
			sameTenant(t, "tenant handed to fn", cur, child)
			cur.Name, cur.Kind = "Renamed ü", "folder"
			cur.Enabled, cur.Version, cur.Generation = false, cur.Version+1, cur.Generation+1
			cur.UpdatedAt = at(5*time.Hour + 7*time.Microsecond)
			// None of these may stick: a tenant never moves or changes
			// its history.
			cur.ID, cur.ParentID, cur.CreatedAt = "hijacked", other.ID, at(-time.Hour)
			return cur, nil
		}, gatehouse.NoAudit)
		if err != nil {
			t.Fatalf("UpdateTenant: %v", err)
		}
		if calls != 1 {
			t.Errorf("fn called %d times, want 1", calls)
		}
		want := child
		want.Name, want.Kind = "Renamed ü", "folder"
		want.Enabled, want.Version, want.Generation = false, child.Version+1, child.Generation+1
		want.UpdatedAt = at(5*time.Hour + 7*time.Microsecond)
		sameTenant(t, "UpdateTenant result", got, want)
		sameTenant(t, "GetTenant after UpdateTenant", mustGetTenant(t, s, child.ID), want)
		sameTenant(t, "the other tenant", mustGetTenant(t, s, other.ID), other)
		if _, err := s.GetTenant(t.Context(), "hijacked"); !errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("GetTenant(hijacked): error = %v, want ErrNotFound", err)
		}
		if kids, err := s.ListTenantChildren(t.Context(), other.ID); err != nil || len(kids) != 0 {
			t.Errorf("ListTenantChildren(other) = %q, %v; the update must not have moved the tenant", tenantIDs(kids), err)
		}
	}},

	{"UpdateTenant/UnknownOrRefused", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		_, err := s.UpdateTenant(t.Context(), "no-such-tenant", func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
			t.Error("fn called for an unknown tenant")
			return cur, nil
		}, gatehouse.NoAudit)
		if !errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("UpdateTenant(unknown): error = %v, want ErrNotFound", err)
		}
		_, err = s.UpdateTenant(t.Context(), root.ID, func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
			cur.Enabled = false
			return cur, fmt.Errorf("stale version: %w", errFromTenantFn)
		}, gatehouse.NoAudit)
		if !errors.Is(err, errFromTenantFn) {
			t.Errorf("UpdateTenant with a failing fn: error = %v, want fn's error", err)
		}
		sameTenant(t, "root after the refused update", mustGetTenant(t, s, root.ID), root)
	}},

	{"UpdateTenant/NoLostUpdates", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		const n = 20
		var errs []error
		finishes(t, 30*time.Second, "concurrent UpdateTenant calls", func() {
			errs = testkit.Race(n, func(int) error {
				_, err := s.UpdateTenant(t.Context(), root.ID, func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
					cur.Version++
					cur.Generation += 2
					return cur, nil
				}, gatehouse.NoAudit)
				return err
			})
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("updater %d: %v", i, err)
			}
		}
		got := mustGetTenant(t, s, root.ID)
		if got.Version != root.Version+n || got.Generation != 2*n {
			t.Errorf("after %d increments: Version %d, Generation %d; want %d, %d", n, got.Version, got.Generation, root.Version+n, 2*n)
		}
	}},

	{"UpdateTenant/CanceledContext", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := s.UpdateTenant(ctx, root.ID, func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
			cur.Enabled = false
			return cur, nil
		}, gatehouse.NoAudit)
		if err == nil {
			t.Error("UpdateTenant with a canceled context succeeded")
		}
		sameTenant(t, "root after the canceled update", mustGetTenant(t, s, root.ID), root)
	}},

	{"ListTenantChildren/DirectChildrenInByteOrder", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		// Bytewise: upper case before lower case, ASCII before the
		// multi-byte "é", whatever a collation would say.
		ids := []string{"b", "a", "B", "é", "a0", "Z"}
		for i, id := range ids {
			mustCreateTenant(t, s, tenantAt(id, root.ID, time.Duration(len(ids)-i)*time.Minute))
		}
		mustCreateTenant(t, s, tenantAt("grandchild", "a", time.Hour))
		got, err := s.ListTenantChildren(t.Context(), root.ID)
		if err != nil {
			t.Fatalf("ListTenantChildren(root): %v", err)
		}
		want := slices.Clone(ids)
		slices.Sort(want)
		if !slices.Equal(tenantIDs(got), want) {
			t.Errorf("children of root = %q, want %q", tenantIDs(got), want)
		}
		for _, tn := range got {
			sameTenant(t, "listed child", tn, mustGetTenant(t, s, tn.ID))
		}
		if got, err := s.ListTenantChildren(t.Context(), "a"); err != nil || !slices.Equal(tenantIDs(got), []string{"grandchild"}) {
			t.Errorf("children of a = %q, %v; want only the grandchild", tenantIDs(got), err)
		}
		for _, parent := range []string{"grandchild", "no-such-tenant", ""} {
			if got, err := s.ListTenantChildren(t.Context(), parent); err != nil || len(got) != 0 {
				t.Errorf("children of %q = %q, %v; want none", parent, tenantIDs(got), err)
			}
		}
	}},

	{"TenantAncestry/NearestFirst", func(t *testing.T, s gatehouse.Store) {
		chain := chainOf(t, s) // root, a, b, c
		for i := range chain {
			got, err := s.TenantAncestry(t.Context(), chain[i].ID)
			if err != nil {
				t.Fatalf("TenantAncestry(%q): %v", chain[i].ID, err)
			}
			want := slices.Clone(chain[:i+1])
			slices.Reverse(want)
			if !slices.Equal(tenantIDs(got), tenantIDs(want)) {
				t.Fatalf("TenantAncestry(%q) = %q, want %q", chain[i].ID, tenantIDs(got), tenantIDs(want))
			}
			for j := range want {
				sameTenant(t, fmt.Sprintf("TenantAncestry(%q)[%d]", chain[i].ID, j), got[j], want[j])
			}
		}
		if _, err := s.TenantAncestry(t.Context(), "no-such-tenant"); !errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("TenantAncestry(unknown): error = %v, want ErrNotFound", err)
		}
	}},

	{"TenantAncestry/SeesUpdates", func(t *testing.T, s gatehouse.Store) {
		chain := chainOf(t, s)
		a := chain[1]
		if _, err := s.UpdateTenant(t.Context(), a.ID, func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
			cur.Enabled = false
			cur.Generation++
			return cur, nil
		}, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		got, err := s.TenantAncestry(t.Context(), "c")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 || got[2].ID != a.ID || got[2].Enabled || got[2].Generation != 1 {
			t.Errorf("TenantAncestry(c) after disabling a = %+v; want a disabled at generation 1 third", got)
		}
		for i, tn := range got {
			if i != 2 && !tn.Enabled {
				t.Errorf("TenantAncestry(c)[%d] = %q is disabled; only a was", i, tn.ID)
			}
		}
	}},

	{"Audit/TenantChangesRecordTheirEntries", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		// Without an entry, nothing is recorded.
		quiet := mustCreateTenant(t, s, tenantAt("quiet", root.ID, time.Hour))
		if _, err := s.UpdateTenant(t.Context(), quiet.ID, func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
			cur.Version++
			return cur, nil
		}, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		if got := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID}); len(got) != 0 {
			t.Fatalf("tenant changes without an entry recorded %s", auditNames(got))
		}

		e1 := auditEntry(1, root.ID, "tenant.create", "loud")
		if err := s.CreateTenant(t.Context(), tenantAt("loud", root.ID, time.Hour), e1); err != nil {
			t.Fatal(err)
		}
		e2 := auditEntry(2, root.ID, "tenant.disable", "loud")
		if _, err := s.UpdateTenant(t.Context(), "loud", func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
			cur.Enabled = false
			return cur, nil
		}, e2); err != nil {
			t.Fatal(err)
		}
		want := []gatehouse.AuditEntry{e2, e1}
		sameAuditList(t, "ListAudit after the tenant changes", mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID}), want)

		// Failed changes record nothing.
		failed := []struct {
			name   string
			change func(ctx context.Context, a gatehouse.AuditEntry) error
		}{
			{"CreateTenant/TakenID", func(ctx context.Context, a gatehouse.AuditEntry) error {
				return s.CreateTenant(ctx, tenantAt("loud", root.ID, 0), a)
			}},
			{"CreateTenant/UnknownParent", func(ctx context.Context, a gatehouse.AuditEntry) error {
				return s.CreateTenant(ctx, tenantAt("orphan", "no-such-parent", 0), a)
			}},
			{"UpdateTenant/UnknownID", func(ctx context.Context, a gatehouse.AuditEntry) error {
				_, err := s.UpdateTenant(ctx, "no-such-tenant", func(cur gatehouse.Tenant) (gatehouse.Tenant, error) { return cur, nil }, a)
				return err
			}},
			{"UpdateTenant/FnError", func(ctx context.Context, a gatehouse.AuditEntry) error {
				_, err := s.UpdateTenant(ctx, "loud", func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
					return cur, errFromTenantFn
				}, a)
				return err
			}},
		}
		for i, f := range failed {
			if err := f.change(t.Context(), auditEntry(10+i, root.ID, "failed", f.name)); err == nil {
				t.Errorf("%s succeeded, want an error", f.name)
			}
		}
		sameAuditList(t, "ListAudit after the failed tenant changes", mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID}), want)
	}},
}
