package service_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/service"
)

// ancestryStore is feedStore counting the reads of tenant ancestries too.
type ancestryStore struct {
	*feedStore
	ancestry atomic.Int64
	treeDown atomic.Bool // only the tenant reads fail
}

func (a *ancestryStore) TenantAncestry(ctx context.Context, id string) ([]gatehouse.Tenant, error) {
	a.ancestry.Add(1)
	if a.treeDown.Load() {
		return nil, errors.New("connection refused")
	}
	return a.feedStore.Store.TenantAncestry(ctx, id)
}

// The state of the tenant tree is cached with the clients and trusted as
// they are: while the change feed is connected, the token path reads no
// tenant, and a tenant change announced on the feed takes effect at once.
func TestTenantStateFollowsTheChangeFeed(t *testing.T) {
	st := openStore(t, t.TempDir())
	as := &ancestryStore{feedStore: &feedStore{Store: st, changes: make(chan gatehouse.Change)}}
	svc := startServiceWith(t, service.Config{Store: as, Changes: as, SyncInterval: time.Hour})
	ctx := t.Context()
	if _, err := svc.Bootstrap(ctx, admin); err != nil {
		t.Fatal(err)
	}
	auth := func() error { _, err := svc.AuthenticateClient(ctx, adminCred()); return err }
	reads := func(f func()) int64 {
		before := as.ancestry.Load()
		f()
		return as.ancestry.Load() - before
	}

	// Not yet connected: every check reads the tree.
	if n := reads(func() { auth(); auth() }); n != 2 {
		t.Errorf("feed not yet connected: %d ancestry reads for 2 checks, want 2", n)
	}

	as.changes <- gatehouse.Change{Kind: gatehouse.ChangeResync}
	as.changes <- gatehouse.Change{Kind: gatehouse.ChangeKeys} // received only once the resync is handled
	auth()
	if n := reads(func() {
		for range 5 {
			if err := auth(); err != nil {
				t.Fatal(err)
			}
		}
	}); n != 0 {
		t.Errorf("feed connected: %d ancestry reads for 5 checks, want 0", n)
	}

	// Another replica disables the root tenant. Until the feed says so,
	// this replica cannot know; once it does, the admin is refused.
	root, err := st.RootTenant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateTenant(ctx, root.ID, func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
		cur.Enabled = false
		cur.Generation++
		return cur, nil
	}, gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	as.changes <- gatehouse.Change{Kind: gatehouse.ChangeTenant, ID: root.ID}
	as.changes <- gatehouse.Change{Kind: gatehouse.ChangeKeys}
	if err := auth(); !errors.Is(err, service.ErrInvalidClient) {
		t.Errorf("after the tenant change: %v, want invalid_client", err)
	}

	// Feed lost: nothing cached is trusted, and a tree that cannot be read
	// fails closed with an unavailable error, never a cached answer.
	if _, err := st.UpdateTenant(ctx, root.ID, func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
		cur.Enabled = true
		return cur, nil
	}, gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	as.changes <- gatehouse.Change{Kind: gatehouse.ChangeTenant, ID: root.ID}
	as.changes <- gatehouse.Change{Kind: gatehouse.ChangeKeys}
	if err := auth(); err != nil {
		t.Fatalf("root enabled again: %v", err)
	}
	as.changes <- gatehouse.Change{Kind: gatehouse.ChangeLost}
	as.changes <- gatehouse.Change{Kind: gatehouse.ChangeKeys}
	if n := reads(func() { auth(); auth() }); n != 2 {
		t.Errorf("feed lost: %d ancestry reads for 2 checks, want 2", n)
	}
	as.treeDown.Store(true)
	if err := auth(); !errors.Is(err, gatehouse.ErrUnavailable) {
		t.Errorf("tenants unreadable, feed lost: %v, want ErrUnavailable", err)
	}
}
