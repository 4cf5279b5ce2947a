package service_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/service"
)

// The tree grows to the depth the store can read back, and no deeper: a
// tenant below that is refused as invalid, never created unreadable.
func TestCreateTenantStopsAtTheReadableDepth(t *testing.T) {
	d := testdc.Start(t, testdc.Options{AdminID: "admin"})
	p := adminPrincipal(t, d)
	now := time.Now().UTC().Truncate(time.Microsecond)
	parent := p.Client.TenantID // the root, depth 1
	for depth := 2; depth < gatehouse.MaxTenantDepth; depth++ {
		id := fmt.Sprintf("t-%04d", depth)
		tn := gatehouse.Tenant{ID: id, ParentID: parent, Name: id, Kind: "folder", Enabled: true, Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := d.Store.CreateTenant(t.Context(), tn, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		parent = id
	}
	// parent is at depth MaxTenantDepth-1: one more level fits.
	deepest, err := d.Svc.CreateTenant(t.Context(), p, service.NewTenant{ParentID: parent, Name: "deepest", Kind: "folder"})
	if err != nil {
		t.Fatalf("a tenant at depth %d: %v", gatehouse.MaxTenantDepth, err)
	}
	if _, err := d.Svc.GetTenant(t.Context(), p, deepest.ID); err != nil {
		t.Fatalf("the deepest tenant cannot be read back: %v", err)
	}
	_, err = d.Svc.CreateTenant(t.Context(), p, service.NewTenant{ParentID: deepest.ID, Name: "too deep", Kind: "folder"})
	if !errors.Is(err, gatehouse.ErrInvalid) {
		t.Fatalf("a tenant at depth %d: %v, want an invalid-input error", gatehouse.MaxTenantDepth+1, err)
	}
}
