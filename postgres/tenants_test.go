package postgres

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/postgres/pgtest"
)

// Every committed update of a tenant reaches the other replicas, since a
// tenant's state decides whether the clients of its whole subtree work;
// creating a tenant, or an update that fn aborts, says nothing.
func TestTenantChangeFeed(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	a, b := openTest(t, dsn), openTest(t, dsn) // two replicas
	ctx := t.Context()

	changes := watch(t, a)
	expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeResync}, 10*time.Second)
	if _, err := b.Bootstrap(ctx, testRoot, testAdmin); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeClient, ID: testAdmin.ID}, 5*time.Second)

	now := time.Now()
	child := gatehouse.Tenant{ID: "child ü", ParentID: testRoot.ID, Name: "Child", Kind: "customer",
		Enabled: true, Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := b.CreateTenant(ctx, child, gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	errAbort := errors.New("abort")
	if _, err := b.UpdateTenant(ctx, child.ID, func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
		cur.Enabled = false
		return cur, errAbort
	}, gatehouse.NoAudit); !errors.Is(err, errAbort) {
		t.Fatalf("aborted UpdateTenant: %v", err)
	}
	expectNone(t, changes, 300*time.Millisecond)

	if _, err := b.UpdateTenant(ctx, child.ID, func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
		cur.Enabled = false
		cur.Generation++
		cur.Version++
		return cur, nil
	}, gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeTenant, ID: child.ID}, 5*time.Second)
	expectNone(t, changes, 300*time.Millisecond)
}
