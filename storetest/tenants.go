package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

var bootstrapTests = []test{
	{"Bootstrap/CreatesRootAndAdmin", func(t *testing.T, s gatehouse.Store) {
		root, admin := bootstrap(t, s)
		got, err := s.GetTenant(t.Context(), root.ID)
		if err != nil {
			t.Fatalf("GetTenant(root): %v", err)
		}
		sameTenant(t, "GetTenant after Bootstrap", got, root)
		sameClient(t, "GetClient after Bootstrap", mustGet(t, s, admin.ID), admin)
	}},

	{"Bootstrap/SecondCallChangesNothing", func(t *testing.T, s gatehouse.Store) {
		root, admin := bootstrap(t, s)
		root2 := rootTenant("other-root")
		admin2 := newClient(root2.ID, "other-admin")
		// Same IDs but different content must not overwrite either.
		root3 := rootTenant(root.ID)
		root3.Name = "Renamed"
		admin3 := newClient(root.ID, admin.ID)
		admin3.Generation = 99
		for _, tc := range []struct {
			root  gatehouse.Tenant
			admin gatehouse.Client
		}{{root2, admin2}, {root3, admin3}} {
			created, err := s.Bootstrap(t.Context(), tc.root, tc.admin)
			if err != nil || created {
				t.Fatalf("second Bootstrap(%q, %q) = %v, %v; want false, nil", tc.root.ID, tc.admin.ID, created, err)
			}
		}
		got, err := s.GetTenant(t.Context(), root.ID)
		if err != nil {
			t.Fatalf("GetTenant(root): %v", err)
		}
		sameTenant(t, "root after second Bootstrap", got, root)
		sameClient(t, "admin after second Bootstrap", mustGet(t, s, admin.ID), admin)
		if _, err := s.GetTenant(t.Context(), root2.ID); !errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("GetTenant(second root) error = %v, want ErrNotFound", err)
		}
		wantNotFound(t, s, admin2.ID)
	}},

	{"Bootstrap/ConcurrentCallsCreateOnePair", func(t *testing.T, s gatehouse.Store) {
		const n = 20
		var created [n]bool
		var errs []error
		finishes(t, 30*time.Second, "racing Bootstrap calls", func() {
			errs = testkit.Race(n, func(i int) (err error) {
				root := rootTenant(fmt.Sprintf("root-%02d", i))
				admin := newClient(root.ID, fmt.Sprintf("admin-%02d", i))
				created[i], err = s.Bootstrap(t.Context(), root, admin)
				return err
			})
		})
		winner := -1
		for i := range n {
			if errs[i] != nil {
				t.Errorf("racer %d: Bootstrap: %v", i, errs[i])
			}
			if created[i] {
				if winner >= 0 {
					t.Errorf("racers %d and %d both report created=true", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no racer reports created=true")
		}
		// Only the winner's pair may exist.
		for i := range n {
			_, terr := s.GetTenant(t.Context(), fmt.Sprintf("root-%02d", i))
			_, cerr := s.GetClient(t.Context(), fmt.Sprintf("admin-%02d", i))
			if i == winner {
				if terr != nil || cerr != nil {
					t.Errorf("winner %d: GetTenant: %v; GetClient: %v", i, terr, cerr)
				}
				continue
			}
			if !errors.Is(terr, gatehouse.ErrNotFound) || !errors.Is(cerr, gatehouse.ErrNotFound) {
				t.Errorf("loser %d: GetTenant error %v, GetClient error %v; want ErrNotFound for both", i, terr, cerr)
			}
		}
	}},
}

var tenantTests = []test{
	{"GetTenant/Unknown", func(t *testing.T, s gatehouse.Store) {
		if _, err := s.GetTenant(t.Context(), "no-such-tenant"); !errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("GetTenant on an empty store: error = %v, want ErrNotFound", err)
		}
		bootstrap(t, s)
		if _, err := s.GetTenant(t.Context(), "no-such-tenant"); !errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("GetTenant(unknown): error = %v, want ErrNotFound", err)
		}
	}},

	{"CreateTenant/ChildRoundTrip", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		child := gatehouse.Tenant{
			ID: "child", ParentID: root.ID, Name: "Child", Kind: "customer",
			Enabled: false, Version: 1, CreatedAt: at(time.Hour), UpdatedAt: at(2 * time.Hour),
		}
		if err := s.CreateTenant(t.Context(), child, gatehouse.NoAudit); err != nil {
			t.Fatalf("CreateTenant: %v", err)
		}
		got, err := s.GetTenant(t.Context(), child.ID)
		if err != nil {
			t.Fatalf("GetTenant(child): %v", err)
		}
		sameTenant(t, "child tenant", got, child)

		dup := child
		dup.Name = "Impostor"
		if err := s.CreateTenant(t.Context(), dup, gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrConflict) {
			t.Errorf("CreateTenant(duplicate id): error = %v, want ErrConflict", err)
		}
		if got, _ := s.GetTenant(t.Context(), child.ID); got.Name != child.Name {
			t.Errorf("duplicate CreateTenant changed the name to %q", got.Name)
		}
	}},
}
