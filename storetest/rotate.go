package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// mustKeys returns the store's keys by kid.
func mustKeys(t *testing.T, s gatehouse.Store) map[string]gatehouse.SigningKey {
	t.Helper()
	keys, err := s.SigningKeys(t.Context())
	if err != nil {
		t.Fatalf("SigningKeys: %v", err)
	}
	m := make(map[string]gatehouse.SigningKey, len(keys))
	for _, k := range keys {
		m[k.ID] = k
	}
	return m
}

// KeyUpdate is the function UpdateSigningKeys applies to the key set.
type KeyUpdate = func([]gatehouse.SigningKey) ([]gatehouse.SigningKey, error)

// AddKeys is a key-set update that adds keys, for tests that need keys in a
// store.
func AddKeys(keys ...gatehouse.SigningKey) KeyUpdate {
	return func(current []gatehouse.SigningKey) ([]gatehouse.SigningKey, error) {
		return append(current, keys...), nil
	}
}

// Rotating is a simple rotation, for tests of the store (the service has the
// real rule): unless a key was created after unlessCreatedAfter (when it is
// not zero), which it refuses with ErrConflict, it adds next and sets
// RetireAt to retire on every other key that would retire later or never.
// It both adds and changes keys, so a test sees that neither happens alone.
func Rotating(next gatehouse.SigningKey, retire, unlessCreatedAfter time.Time) KeyUpdate {
	return func(current []gatehouse.SigningKey) ([]gatehouse.SigningKey, error) {
		for i, k := range current {
			if !unlessCreatedAfter.IsZero() && k.CreatedAt.After(unlessCreatedAfter) {
				return nil, fmt.Errorf("key %q was created after %s: %w", k.ID, unlessCreatedAfter, gatehouse.ErrConflict)
			}
			if k.ID != next.ID && (k.RetireAt.IsZero() || k.RetireAt.After(retire)) {
				current[i].RetireAt = retire
			}
		}
		return append(current, next), nil
	}
}

func mustAddKeys(t *testing.T, s gatehouse.Store, keys ...gatehouse.SigningKey) {
	t.Helper()
	if err := s.UpdateSigningKeys(t.Context(), AddKeys(keys...), gatehouse.NoAudit); err != nil {
		t.Fatalf("UpdateSigningKeys(add %d keys): %v", len(keys), err)
	}
}

// sameKeys fails t unless the store holds exactly want.
func sameKeys(t *testing.T, what string, s gatehouse.Store, want ...gatehouse.SigningKey) {
	t.Helper()
	got := mustKeys(t, s)
	if len(got) != len(want) {
		t.Errorf("%s: %d keys, want %d", what, len(got), len(want))
	}
	for _, w := range want {
		g, ok := got[w.ID]
		if !ok {
			t.Errorf("%s: key %q is missing", what, w.ID)
			continue
		}
		sameKey(t, what, g, w)
	}
}

func retiring(k gatehouse.SigningKey, at time.Time) gatehouse.SigningKey {
	k.RetireAt = at
	return k
}

var errFromKeyFn = errors.New("the key-set function refused")

var rotateTests = []test{
	{"UpdateSigningKeys/StoresAddedKeysAndRetirements", func(t *testing.T, s gatehouse.Store) {
		k1 := testKey("k-1", 0, 0)                 // never retiring: gets a retirement
		k2 := testKey("k-2", time.Hour, time.Hour) // retiring: moved earlier
		k2.RetireAt = at(100 * time.Hour)
		k3 := testKey("k-3", 2*time.Hour, 2*time.Hour) // retiring: retirement cleared
		k3.RetireAt = at(200 * time.Hour)
		k4 := testKey("k-4", 3*time.Hour, 3*time.Hour) // untouched
		k4.RetireAt = at(300 * time.Hour)
		mustAddKeys(t, s, k1, k2, k3, k4)

		next := testKey("next", 5*time.Hour, 20*time.Hour)
		next.RetireAt = at(1000 * time.Hour) // stored as given
		var seen []gatehouse.SigningKey
		err := s.UpdateSigningKeys(t.Context(), func(cur []gatehouse.SigningKey) ([]gatehouse.SigningKey, error) {
			seen = gatehouse.CloneSigningKeys(cur)
			cur[0].RetireAt = at(50 * time.Hour)
			cur[1].RetireAt = at(40 * time.Hour)
			cur[2].RetireAt = time.Time{}
			return append(cur, next), nil
		}, gatehouse.NoAudit)
		if err != nil {
			t.Fatalf("UpdateSigningKeys: %v", err)
		}
		// fn saw the stored set, oldest first.
		if len(seen) != 4 {
			t.Fatalf("fn was given %d keys, want 4", len(seen))
		}
		for i, want := range []gatehouse.SigningKey{k1, k2, k3, k4} {
			sameKey(t, fmt.Sprintf("key %d given to fn", i), seen[i], want)
		}
		sameKeys(t, "after the update", s,
			retiring(k1, at(50*time.Hour)),
			retiring(k2, at(40*time.Hour)),
			retiring(k3, time.Time{}),
			k4,
			next,
		)
	}},

	{"UpdateSigningKeys/FirstKey", func(t *testing.T, s gatehouse.Store) {
		given := -1
		first := testKey("first", 0, time.Hour)
		err := s.UpdateSigningKeys(t.Context(), func(cur []gatehouse.SigningKey) ([]gatehouse.SigningKey, error) {
			given = len(cur)
			return append(cur, first), nil
		}, gatehouse.NoAudit)
		if err != nil {
			t.Fatalf("UpdateSigningKeys on an empty store: %v", err)
		}
		if given != 0 {
			t.Errorf("fn was given %d keys on an empty store", given)
		}
		sameKeys(t, "after the first update", s, first)
	}},

	{"UpdateSigningKeys/FnErrorChangesNothing", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		k1 := testKey("k-1", 0, 0)
		mustAddKeys(t, s, k1)
		err := s.UpdateSigningKeys(t.Context(), func(cur []gatehouse.SigningKey) ([]gatehouse.SigningKey, error) {
			cur[0].RetireAt = at(time.Hour)
			return append(cur, testKey("k-2", time.Hour, time.Hour)), fmt.Errorf("no: %w", errFromKeyFn)
		}, auditEntry(1, root.ID, "key.rotate", "k-2"))
		if !errors.Is(err, errFromKeyFn) {
			t.Errorf("UpdateSigningKeys error = %v, want fn's error", err)
		}
		sameKeys(t, "after the refused update", s, k1)
		if got := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID}); len(got) != 0 {
			t.Errorf("a refused update recorded %s", auditNames(got))
		}
	}},

	{"UpdateSigningKeys/UnchangedWritesNothing", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		k1 := testKey("k-1", 0, 0)
		mustAddKeys(t, s, k1)
		err := s.UpdateSigningKeys(t.Context(), func(cur []gatehouse.SigningKey) ([]gatehouse.SigningKey, error) {
			return cur, nil
		}, auditEntry(1, root.ID, "key.rotate", "nothing"))
		if err != nil {
			t.Fatalf("UpdateSigningKeys(unchanged): %v", err)
		}
		sameKeys(t, "after the empty update", s, k1)
		if got := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID}); len(got) != 0 {
			t.Errorf("an update that changed nothing recorded %s", auditNames(got))
		}
	}},

	{"UpdateSigningKeys/TakenKidChangesNothing", func(t *testing.T, s gatehouse.Store) {
		k1 := testKey("k-1", 0, 0)
		k2 := testKey("k-2", time.Hour, time.Hour)
		mustAddKeys(t, s, k1, k2)
		// Were the retirement not undone with the refused key, k-1 and
		// k-2 would retire.
		dup := testKey(k2.ID, 2*time.Hour, 5*time.Hour)
		if err := s.UpdateSigningKeys(t.Context(), Rotating(dup, at(10*time.Hour), time.Time{}), gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrConflict) {
			t.Errorf("UpdateSigningKeys(taken kid) error = %v, want ErrConflict", err)
		}
		// A new kid twice in one update is taken too.
		twice := testKey("k-3", 2*time.Hour, 2*time.Hour)
		if err := s.UpdateSigningKeys(t.Context(), AddKeys(twice, twice), gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrConflict) {
			t.Errorf("UpdateSigningKeys(one new kid twice) error = %v, want ErrConflict", err)
		}
		sameKeys(t, "after the refused updates", s, k1, k2)
	}},

	{"UpdateSigningKeys/StoredKeysAreNeitherEditedNorDropped", func(t *testing.T, s gatehouse.Store) {
		k1 := testKey("k-1", 0, 0)
		k2 := testKey("k-2", time.Hour, time.Hour)
		mustAddKeys(t, s, k1, k2)
		edits := []struct {
			name string
			edit func(k *gatehouse.SigningKey)
		}{
			{"PrivateKey", func(k *gatehouse.SigningKey) { k.PrivateKey = keyBytes("other") }},
			{"Algorithm", func(k *gatehouse.SigningKey) { k.Algorithm = "ES256" }},
			{"CreatedAt", func(k *gatehouse.SigningKey) { k.CreatedAt = k.CreatedAt.Add(time.Second) }},
			{"ActiveAt", func(k *gatehouse.SigningKey) { k.ActiveAt = k.ActiveAt.Add(time.Second) }},
		}
		for _, e := range edits {
			err := s.UpdateSigningKeys(t.Context(), func(cur []gatehouse.SigningKey) ([]gatehouse.SigningKey, error) {
				cur[0].RetireAt = at(time.Hour)
				e.edit(&cur[1])
				return cur, nil
			}, gatehouse.NoAudit)
			if !errors.Is(err, gatehouse.ErrConflict) {
				t.Errorf("UpdateSigningKeys(edited %s) error = %v, want ErrConflict", e.name, err)
			}
		}
		err := s.UpdateSigningKeys(t.Context(), func(cur []gatehouse.SigningKey) ([]gatehouse.SigningKey, error) {
			return append(cur[1:], testKey("k-3", 2*time.Hour, 2*time.Hour)), nil
		}, gatehouse.NoAudit)
		if !errors.Is(err, gatehouse.ErrInvalid) {
			t.Errorf("UpdateSigningKeys(dropped a key) error = %v, want ErrInvalid", err)
		}
		noKey := testKey("k-3", 2*time.Hour, 2*time.Hour)
		noKey.PrivateKey = nil
		if err := s.UpdateSigningKeys(t.Context(), AddKeys(noKey), gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrInvalid) {
			t.Errorf("UpdateSigningKeys(no private key) error = %v, want ErrInvalid", err)
		}
		sameKeys(t, "after the refused updates", s, k1, k2)
	}},

	{"UpdateSigningKeys/ConcurrentRotationsOneWins", func(t *testing.T, s gatehouse.Store) {
		// Replicas that find rotation due at the same moment all rotate
		// unless a key was created after the newest they saw: the update's
		// transaction must let exactly one through.
		root, _ := bootstrap(t, s)
		k0 := testKey("k-0", 0, 0)
		mustAddKeys(t, s, k0)
		const n = 8
		var errs []error
		finishes(t, 30*time.Second, "racing UpdateSigningKeys calls", func() {
			errs = testkit.Race(n, func(i int) error {
				kid := fmt.Sprintf("k-racer-%d", i)
				next := testKey(kid, time.Hour+time.Duration(i)*time.Microsecond, 2*time.Hour)
				return s.UpdateSigningKeys(t.Context(), Rotating(next, at(10*time.Hour), k0.CreatedAt),
					auditEntry(i, root.ID, "key.rotate", kid))
			})
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("racers %d and %d both rotated", winner, i)
				}
				winner = i
			case !errors.Is(err, gatehouse.ErrConflict):
				t.Errorf("racer %d: error = %v, want ErrConflict", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no racer rotated")
		}
		kid := fmt.Sprintf("k-racer-%d", winner)
		sameKeys(t, "after the race", s,
			retiring(k0, at(10*time.Hour)),
			testKey(kid, time.Hour+time.Duration(winner)*time.Microsecond, 2*time.Hour))
		sameAuditList(t, "the log after the race", mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID}),
			[]gatehouse.AuditEntry{auditEntry(winner, root.ID, "key.rotate", kid)})
	}},
}

var rootTenantTests = []test{
	{"RootTenant", func(t *testing.T, s gatehouse.Store) {
		if got, err := s.RootTenant(t.Context()); !errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("RootTenant on an empty store = %q, %v; want ErrNotFound", got.ID, err)
		}
		root, _ := bootstrap(t, s)
		childTenant(t, s, root.ID, "a-child") // as old as the root, and sorts before it
		// CreateTenant can make another parentless tenant; the root is
		// still the first one.
		later := rootTenant("a-later-root")
		later.CreatedAt = root.CreatedAt.Add(time.Microsecond)
		if err := s.CreateTenant(t.Context(), later, gatehouse.NoAudit); err != nil {
			t.Fatalf("CreateTenant(%q): %v", later.ID, err)
		}
		got, err := s.RootTenant(t.Context())
		if err != nil {
			t.Fatalf("RootTenant: %v", err)
		}
		sameTenant(t, "RootTenant", got, root)
	}},
}
