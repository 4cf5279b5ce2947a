package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

var errFromFn = errors.New("storetest: error from the update function")

var updateTests = []test{
	{"UpdateClient/AppliesChanges", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		c := newClient(root.ID, "upd")
		mustCreate(t, s, c)
		want := c
		want.AuthMethod = gatehouse.AuthSecretPost
		want.Role = gatehouse.RoleTenantAdmin
		want.Status = gatehouse.StatusDisabled
		want.Data = json.RawMessage(`{"client_name":"renamed",  "x":[1.0]}`)
		want.SecretHash = []byte("hs256v1:\x00new hash")
		want.Generation = c.Generation + 1
		want.UpdatedAt = at(time.Hour + 7*time.Microsecond)
		var seen gatehouse.Client
		got, err := s.UpdateClient(t.Context(), c.ID, func(cur gatehouse.Client) (gatehouse.Client, error) {
			seen = cur
			next := cur
			next.AuthMethod, next.Role, next.Status = want.AuthMethod, want.Role, want.Status
			next.Data, next.SecretHash = want.Data, want.SecretHash
			next.Generation, next.UpdatedAt = want.Generation, want.UpdatedAt
			return next, nil
		}, gatehouse.NoAudit)
		if err != nil {
			t.Fatalf("UpdateClient: %v", err)
		}
		sameClient(t, "fn's argument", seen, c)
		sameClient(t, "UpdateClient's result", got, want)
		sameClient(t, "GetClient after UpdateClient", mustGet(t, s, c.ID), want)
	}},

	{"UpdateClient/FnSeesLatestValue", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		c := newClient(root.ID, "seq")
		mustCreate(t, s, c)
		for i := range 3 {
			_, err := s.UpdateClient(t.Context(), c.ID, func(cur gatehouse.Client) (gatehouse.Client, error) {
				if want := c.Generation + int64(i); cur.Generation != want {
					return cur, fmt.Errorf("fn saw Generation %d, want %d", cur.Generation, want)
				}
				cur.Generation++
				return cur, nil
			}, gatehouse.NoAudit)
			if err != nil {
				t.Fatalf("update %d: %v", i, err)
			}
		}
	}},

	{"UpdateClient/FnErrorAbortsUnchanged", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		c := newClient(root.ID, "abort")
		mustCreate(t, s, c)
		wrapped := fmt.Errorf("refused: %w", errFromFn)
		_, err := s.UpdateClient(t.Context(), c.ID, func(cur gatehouse.Client) (gatehouse.Client, error) {
			cur.Status = gatehouse.StatusDisabled
			cur.Generation += 10
			cur.SecretHash = []byte("should not be stored")
			return cur, wrapped
		}, gatehouse.NoAudit)
		if !errors.Is(err, errFromFn) {
			t.Errorf("UpdateClient error = %v, want fn's error", err)
		}
		// A store must not dress fn's error up as one of its own kinds.
		for _, kind := range []error{gatehouse.ErrNotFound, gatehouse.ErrConflict, gatehouse.ErrUnavailable} {
			if errors.Is(err, kind) {
				t.Errorf("UpdateClient error %v also matches %v", err, kind)
			}
		}
		sameClient(t, "after an aborted update", mustGet(t, s, c.ID), c)
	}},

	{"UpdateClient/UnknownIsNotFound", func(t *testing.T, s gatehouse.Store) {
		bootstrap(t, s)
		called := false
		_, err := s.UpdateClient(t.Context(), "nobody", func(cur gatehouse.Client) (gatehouse.Client, error) {
			called = true
			return cur, nil
		}, gatehouse.NoAudit)
		if !errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("UpdateClient(unknown) error = %v, want ErrNotFound", err)
		}
		if called {
			t.Error("UpdateClient(unknown) called fn")
		}
		wantNotFound(t, s, "nobody")
	}},

	{"UpdateClient/KeepsIdentityFields", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		// With a second tenant the move would be to a real tenant, so a
		// foreign key cannot be what stops it.
		target := "elsewhere"
		err := s.CreateTenant(t.Context(), gatehouse.Tenant{ID: target, ParentID: root.ID, Name: "E", Kind: "k", CreatedAt: at(0), UpdatedAt: at(0)}, gatehouse.NoAudit)
		if err != nil {
			t.Fatalf("CreateTenant: %v", err)
		}
		c := newClient(root.ID, "pinned")
		mustCreate(t, s, c)
		want := c
		want.Status = gatehouse.StatusDisabled
		got, err := s.UpdateClient(t.Context(), c.ID, func(cur gatehouse.Client) (gatehouse.Client, error) {
			cur.ID = "hijacked"
			cur.TenantID = target
			cur.CreatedAt = at(-time.Hour)
			cur.CreatedBy = "mallory"
			cur.Status = gatehouse.StatusDisabled
			return cur, nil
		}, gatehouse.NoAudit)
		if err != nil {
			// Rejecting the change outright is allowed too, if nothing is
			// stored.
			sameClient(t, "after a rejected identity change", mustGet(t, s, c.ID), c)
		} else {
			sameClient(t, "UpdateClient's result", got, want)
			sameClient(t, "GetClient", mustGet(t, s, c.ID), want)
		}
		wantNotFound(t, s, "hijacked")
		if l := mustList(t, s, gatehouse.ClientFilter{TenantID: target}); len(l) != 0 {
			t.Errorf("tenant %q lists %q after the attempted move", target, ids(l))
		}
	}},

	{"UpdateClient/ConcurrentIncrementsLoseNothing", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		c := newClient(root.ID, "counter")
		c.Generation = 5
		mustCreate(t, s, c)
		const n = 20
		results := raceUpdates(t, s, c.ID, n, nil)
		var gens []int64
		for _, r := range results {
			gens = append(gens, r.Generation)
		}
		slices.Sort(gens)
		for i, g := range gens {
			if want := c.Generation + int64(i) + 1; g != want {
				t.Fatalf("generations returned to the racers = %v, want each of %d..%d once", gens, c.Generation+1, c.Generation+n)
			}
		}
		if got := mustGet(t, s, c.ID).Generation; got != c.Generation+n {
			t.Errorf("Generation after %d racing increments = %d, want %d", n, got, c.Generation+n)
		}
	}},

	{"UpdateClient/ConcurrentRegenerations", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		c := newClient(root.ID, "regen")
		c.Generation = 3
		mustCreate(t, s, c)
		const n = 20
		hash := func(i int) []byte { return fmt.Appendf(nil, "hs256v1:racer-%02d", i) }
		results := raceUpdates(t, s, c.ID, n, func(i int, next *gatehouse.Client) {
			next.SecretHash = hash(i)
		})
		got := mustGet(t, s, c.ID)
		if got.Generation != c.Generation+n {
			t.Errorf("Generation after %d racing regenerations = %d, want %d", n, got.Generation, c.Generation+n)
		}
		// The stored hash is the one written by whichever update committed
		// last, the one that saw the highest generation.
		last := -1
		for i, r := range results {
			if r.Generation == c.Generation+n {
				last = i
			}
		}
		if last < 0 {
			t.Fatalf("no racer's update returned Generation %d", c.Generation+n)
		}
		if string(got.SecretHash) != string(hash(last)) {
			t.Errorf("stored SecretHash = %q, want %q from the last update", got.SecretHash, hash(last))
		}
	}},
}

// raceUpdates has n goroutines call UpdateClient on id at once. Racer i's fn
// bumps the generation by one and applies change(i, &next) if change is not
// nil. It returns each racer's result, failing t if any call failed.
func raceUpdates(t *testing.T, s gatehouse.Store, id string, n int, change func(i int, next *gatehouse.Client)) []gatehouse.Client {
	t.Helper()
	results := make([]gatehouse.Client, n)
	var errs []error
	finishes(t, 30*time.Second, "racing UpdateClient calls", func() {
		errs = testkit.Race(n, func(i int) (err error) {
			results[i], err = s.UpdateClient(t.Context(), id, func(cur gatehouse.Client) (gatehouse.Client, error) {
				next := cur
				next.Generation = cur.Generation + 1
				if change != nil {
					change(i, &next)
				}
				return next, nil
			}, gatehouse.NoAudit)
			return err
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer %d: UpdateClient: %v", i, err)
		}
	}
	return results
}
