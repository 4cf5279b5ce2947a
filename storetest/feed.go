package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// NewFeedReplicas makes two backends on one fresh, empty, shared store, as
// two replicas of a data center open it; watched.Changes must be set. They
// should register their Close with t.Cleanup.
type NewFeedReplicas func(t *testing.T) (watched, other gatehouse.Backend)

// announceWithin bounds how long a committed change may take to be heard.
const announceWithin = 5 * time.Second

// RunChangeFeed is the conformance suite of gatehouse.ChangeFeed: every
// committed change a replica caches something of is announced to every
// replica, whichever process committed it, and nothing else is: no change
// that failed or changed nothing, and no bookkeeping.
func RunChangeFeed(t *testing.T, newReplicas NewFeedReplicas) {
	t.Helper()
	for _, tc := range feedTests {
		t.Run(tc.name, func(t *testing.T) {
			watched, other := newReplicas(t)
			if watched.Changes == nil {
				t.Fatal("the watched backend has no change feed")
			}
			changes := WatchFeed(t, watched.Changes)
			ExpectChange(t, changes, gatehouse.Change{Kind: gatehouse.ChangeResync}, 10*time.Second)
			tc.run(t, changes, watched.Store, other.Store)
		})
	}
}

// WatchFeed runs feed.WatchChanges until t ends and returns what it
// reports; it fails t unless WatchChanges returns nil once its context
// has ended.
func WatchFeed(t *testing.T, feed gatehouse.ChangeFeed) <-chan gatehouse.Change {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan gatehouse.Change, 1000)
	done := make(chan error, 1)
	go func() { done <- feed.WatchChanges(ctx, func(c gatehouse.Change) { ch <- c }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("WatchChanges after its context ended: %v, want nil", err)
		}
	})
	return ch
}

// ExpectChange fails t unless the next change reported is want, within d,
// and returns how long it took.
func ExpectChange(t *testing.T, ch <-chan gatehouse.Change, want gatehouse.Change, d time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("change = %+v, want %+v", got, want)
		}
	case <-time.After(d):
		t.Fatalf("no change within %v, want %+v", d, want)
	}
	return time.Since(began)
}

// ExpectNoChange fails t if a change is reported within d.
func ExpectNoChange(t *testing.T, ch <-chan gatehouse.Change, d time.Duration) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("unexpected change %+v", got)
	case <-time.After(d):
	}
}

// quiet is how long the suite listens to be sure nothing more is said.
const quiet = 300 * time.Millisecond

var errFeedAbort = errors.New("abort")

var feedTests = []struct {
	name string
	run  func(t *testing.T, changes <-chan gatehouse.Change, local, remote gatehouse.Store)
}{
	{"ChangeFeed/Clients", func(t *testing.T, changes <-chan gatehouse.Change, local, remote gatehouse.Store) {
		ctx := t.Context()
		client := func(id string) gatehouse.Change { return gatehouse.Change{Kind: gatehouse.ChangeClient, ID: id} }
		_, admin := bootstrap(t, remote)
		ExpectChange(t, changes, client(admin.ID), announceWithin)

		c := newClient(rootID, "c-1 ü")
		began := time.Now()
		if err := remote.CreateClient(ctx, c, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		ExpectChange(t, changes, client(c.ID), announceWithin)
		t.Logf("a client created on one replica was announced to another %v after CreateClient began",
			time.Since(began).Round(time.Microsecond))

		// Recording accesses and counting tokens change nothing a replica
		// caches; an update that fn aborts changes nothing at all.
		if err := remote.RecordAccess(ctx, []gatehouse.ClientAccess{{ClientID: c.ID, At: at(time.Hour), FromIP: "192.0.2.1"}}); err != nil {
			t.Fatal(err)
		}
		if err := remote.AddTokenUsage(ctx, []gatehouse.TokenUsage{{ClientID: c.ID, Hour: at(time.Hour), Count: 3}}); err != nil {
			t.Fatal(err)
		}
		if _, err := remote.UpdateClient(ctx, c.ID, func(cur gatehouse.Client) (gatehouse.Client, error) {
			cur.Generation++
			return cur, errFeedAbort
		}, gatehouse.NoAudit); !errors.Is(err, errFeedAbort) {
			t.Fatalf("aborted UpdateClient: %v", err)
		}
		ExpectNoChange(t, changes, quiet)

		if _, err := remote.UpdateClient(ctx, c.ID, func(cur gatehouse.Client) (gatehouse.Client, error) {
			cur.Status = gatehouse.StatusDisabled
			cur.Generation++
			return cur, nil
		}, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		ExpectChange(t, changes, client(c.ID), announceWithin)
		if err := remote.DeleteClient(ctx, c.ID, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		ExpectChange(t, changes, client(c.ID), announceWithin)

		// A write in the watching replica's own process is announced as
		// well; one that fails is not.
		if err := local.CreateClient(ctx, admin, gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrConflict) {
			t.Fatalf("CreateClient(existing): %v", err)
		}
		c2 := newClient(rootID, "c-2")
		if err := local.CreateClient(ctx, c2, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		ExpectChange(t, changes, client(c2.ID), announceWithin)
		ExpectNoChange(t, changes, quiet)
	}},

	{"ChangeFeed/Revocations", func(t *testing.T, changes <-chan gatehouse.Change, local, remote gatehouse.Store) {
		ctx := t.Context()
		_, admin := bootstrap(t, remote)
		ExpectChange(t, changes, gatehouse.Change{Kind: gatehouse.ChangeClient, ID: admin.ID}, announceWithin)
		r := gatehouse.Revocation{TokenID: "jti-1", ClientID: admin.ID, ExpiresAt: at(time.Hour), RevokedAt: at(0)}
		if err := remote.RevokeToken(ctx, r, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		ExpectChange(t, changes, gatehouse.Change{Kind: gatehouse.ChangeRevocation, ID: r.TokenID}, announceWithin)
		// A repeated revocation inserts nothing and says nothing.
		if err := remote.RevokeToken(ctx, r, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		ExpectNoChange(t, changes, quiet)
	}},

	{"ChangeFeed/Keys", func(t *testing.T, changes <-chan gatehouse.Change, local, remote gatehouse.Store) {
		ctx := t.Context()
		keys := func(kid string) gatehouse.Change { return gatehouse.Change{Kind: gatehouse.ChangeKeys, ID: kid} }
		k1 := testKey("k-1", 0, 0)
		if err := remote.UpdateSigningKeys(ctx, AddKeys(k1), gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		ExpectChange(t, changes, keys(k1.ID), announceWithin)

		// Audit entries are nothing a replica caches: no notice.
		root, _ := bootstrap(t, remote)
		ExpectChange(t, changes, gatehouse.Change{Kind: gatehouse.ChangeClient, ID: adminID}, announceWithin)
		e := auditEntry(1, root.ID, "key.rotate", "k-2")
		e.Outcome = gatehouse.OutcomeDenied
		if err := remote.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
		ExpectNoChange(t, changes, quiet)

		// A rotation announces the new key and the key it retired, in
		// whatever order the backend wrote them.
		k2 := testKey("k-2", time.Hour, 2*time.Hour)
		began := time.Now()
		if err := remote.UpdateSigningKeys(ctx, Rotating(k2, at(3*time.Hour), k1.CreatedAt), auditEntry(2, root.ID, "key.rotate", k2.ID)); err != nil {
			t.Fatal(err)
		}
		heard := map[gatehouse.Change]bool{}
		for range 2 {
			select {
			case c := <-changes:
				heard[c] = true
			case <-time.After(announceWithin):
				t.Fatalf("after a rotation: heard %v, want %v and %v", heard, keys(k2.ID), keys(k1.ID))
			}
		}
		if !heard[keys(k1.ID)] || !heard[keys(k2.ID)] {
			t.Fatalf("after a rotation: heard %v, want %v and %v", heard, keys(k2.ID), keys(k1.ID))
		}
		t.Logf("a rotation on one replica was announced to another %v after UpdateSigningKeys began",
			time.Since(began).Round(time.Microsecond))

		// A refused rotation, and an update that changes nothing, say
		// nothing.
		k3 := testKey("k-3", 4*time.Hour, 5*time.Hour)
		if err := remote.UpdateSigningKeys(ctx, Rotating(k3, at(6*time.Hour), k1.CreatedAt), gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrConflict) {
			t.Fatalf("second rotation unless created after k-1: %v, want ErrConflict", err)
		}
		if err := local.UpdateSigningKeys(ctx, AddKeys(), gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		ExpectNoChange(t, changes, quiet)
	}},

	{"ChangeFeed/Tenants", func(t *testing.T, changes <-chan gatehouse.Change, local, remote gatehouse.Store) {
		// Every committed update of a tenant is announced, since a
		// tenant's state decides whether the clients of its whole subtree
		// work; creating a tenant, or an update that fn aborts, says
		// nothing.
		ctx := t.Context()
		root, admin := bootstrap(t, remote)
		ExpectChange(t, changes, gatehouse.Change{Kind: gatehouse.ChangeClient, ID: admin.ID}, announceWithin)
		child := tenantIn(root.ID, "child ü")
		if err := remote.CreateTenant(ctx, child, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		if _, err := remote.UpdateTenant(ctx, child.ID, func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
			cur.Enabled = false
			return cur, errFeedAbort
		}, gatehouse.NoAudit); !errors.Is(err, errFeedAbort) {
			t.Fatalf("aborted UpdateTenant: %v", err)
		}
		ExpectNoChange(t, changes, quiet)

		if _, err := remote.UpdateTenant(ctx, child.ID, func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
			cur.Enabled = false
			cur.Generation++
			cur.Version++
			return cur, nil
		}, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		ExpectChange(t, changes, gatehouse.Change{Kind: gatehouse.ChangeTenant, ID: child.ID}, announceWithin)
		ExpectNoChange(t, changes, quiet)
	}},
}

func tenantIn(parentID, id string) gatehouse.Tenant {
	return gatehouse.Tenant{ID: id, ParentID: parentID, Name: "Tenant " + id, Kind: "customer",
		Enabled: true, Version: 1, CreatedAt: at(0), UpdatedAt: at(0)}
}
