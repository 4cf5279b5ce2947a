package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
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

func mustAddKeys(t *testing.T, s gatehouse.Store, keys ...gatehouse.SigningKey) {
	t.Helper()
	for _, k := range keys {
		if err := s.AddSigningKey(t.Context(), k, gatehouse.NoAudit); err != nil {
			t.Fatalf("AddSigningKey(%q): %v", k.ID, err)
		}
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

var rotateTests = []test{
	{"RotateSigningKey/RetiresExactlyTheKeysActiveBeforeNext", func(t *testing.T, s gatehouse.Store) {
		retire := at(50 * time.Hour)
		never := testKey("never-retiring", 0, time.Hour) // RetireAt zero: never
		later := testKey("retiring-later", 0, 2*time.Hour)
		later.RetireAt = at(100 * time.Hour)
		earlier := testKey("retiring-earlier", 0, 0)
		earlier.RetireAt = at(10 * time.Hour)
		same := testKey("retiring-then", 0, 3*time.Hour)
		same.RetireAt = retire
		// Active just before next: a predecessor, by a microsecond.
		justBefore := testKey("active-just-before", 0, 20*time.Hour-time.Microsecond)
		// Active with next or after it: not a predecessor, whatever its
		// creation time.
		together := testKey("active-with-next", 0, 20*time.Hour)
		successor := testKey("active-after-next", 30*time.Hour, 30*time.Hour)
		successor.RetireAt = at(200 * time.Hour)
		mustAddKeys(t, s, never, later, earlier, same, justBefore, together, successor)

		next := testKey("next", 5*time.Hour, 20*time.Hour) // RetireAt zero, and stays so
		if err := s.RotateSigningKey(t.Context(), next, retire, time.Time{}, gatehouse.NoAudit); err != nil {
			t.Fatalf("RotateSigningKey: %v", err)
		}
		sameKeys(t, "after the rotation", s,
			retiring(never, retire),      // never → retire
			retiring(later, retire),      // later → retire
			earlier,                      // earlier: kept
			same,                         // equal: kept
			retiring(justBefore, retire), // NULL → retire
			together,                     // not active before next
			successor,                    // active after next
			next,                         // next itself, stored as given
		)
	}},

	{"RotateSigningKey/FirstKey", func(t *testing.T, s gatehouse.Store) {
		next := testKey("first", 0, time.Hour)
		next.RetireAt = at(1000 * time.Hour) // stored as given
		if err := s.RotateSigningKey(t.Context(), next, at(10*time.Hour), at(-time.Hour), gatehouse.NoAudit); err != nil {
			t.Fatalf("RotateSigningKey on an empty store: %v", err)
		}
		sameKeys(t, "after the first rotation", s, next)
	}},

	{"RotateSigningKey/UnlessCreatedAfter", func(t *testing.T, s gatehouse.Store) {
		ctx := t.Context()
		k1 := testKey("k-1", time.Hour, time.Hour)
		mustAddKeys(t, s, k1)

		// A key created exactly at unlessCreatedAfter is not after it.
		k2 := testKey("k-2", 2*time.Hour, 3*time.Hour)
		if err := s.RotateSigningKey(ctx, k2, at(10*time.Hour), at(time.Hour), gatehouse.NoAudit); err != nil {
			t.Fatalf("RotateSigningKey(unless created after k-1's creation): %v", err)
		}
		k1 = retiring(k1, at(10*time.Hour))
		sameKeys(t, "after the first rotation", s, k1, k2)

		// Now k-2 is newer than k-1's creation, and than a microsecond
		// before its own: either cursor means another rotation came first.
		k3 := testKey("k-3", 4*time.Hour, 5*time.Hour)
		for _, unless := range []time.Time{at(time.Hour), at(2*time.Hour - time.Microsecond)} {
			err := s.RotateSigningKey(ctx, k3, at(20*time.Hour), unless, gatehouse.NoAudit)
			if !errors.Is(err, gatehouse.ErrConflict) {
				t.Errorf("RotateSigningKey(unless created after %v) error = %v, want ErrConflict", unless.UTC(), err)
			}
			sameKeys(t, "after the refused rotation", s, k1, k2)
		}

		// Without unlessCreatedAfter nothing is checked.
		if err := s.RotateSigningKey(ctx, k3, at(20*time.Hour), time.Time{}, gatehouse.NoAudit); err != nil {
			t.Fatalf("RotateSigningKey(no unlessCreatedAfter): %v", err)
		}
		sameKeys(t, "after the unchecked rotation", s, k1, retiring(k2, at(20*time.Hour)), k3)
	}},

	{"RotateSigningKey/TakenKidChangesNothing", func(t *testing.T, s gatehouse.Store) {
		k1 := testKey("k-1", 0, 0)
		k2 := testKey("k-2", time.Hour, time.Hour)
		mustAddKeys(t, s, k1, k2)
		// Were the retirement not undone with the failed insert, k-1 and
		// k-2 would retire.
		dup := testKey(k2.ID, 2*time.Hour, 5*time.Hour)
		if err := s.RotateSigningKey(t.Context(), dup, at(10*time.Hour), time.Time{}, gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrConflict) {
			t.Errorf("RotateSigningKey(taken kid) error = %v, want ErrConflict", err)
		}
		sameKeys(t, "after the refused rotation", s, k1, k2)
	}},

	{"RotateSigningKey/InvalidArguments", func(t *testing.T, s gatehouse.Store) {
		k1 := testKey("k-1", 0, 0)
		mustAddKeys(t, s, k1)
		noKey := testKey("k-2", time.Hour, time.Hour)
		noKey.PrivateKey = nil
		if err := s.RotateSigningKey(t.Context(), noKey, at(10*time.Hour), time.Time{}, gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrInvalid) {
			t.Errorf("RotateSigningKey(no private key) error = %v, want ErrInvalid", err)
		}
		// The zero time would retire every earlier key at once, and with
		// them every token they signed: refused, not guessed at.
		if err := s.RotateSigningKey(t.Context(), testKey("k-2", time.Hour, time.Hour), time.Time{}, time.Time{}, gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrInvalid) {
			t.Errorf("RotateSigningKey(zero retirePrevious) error = %v, want ErrInvalid", err)
		}
		sameKeys(t, "after the refused rotations", s, k1)
	}},

	{"RotateSigningKey/ConcurrentRotationsOneWins", func(t *testing.T, s gatehouse.Store) {
		// Replicas that find rotation due at the same moment all rotate
		// with the same unlessCreatedAfter: the newest key they saw.
		root, _ := bootstrap(t, s)
		k0 := testKey("k-0", 0, 0)
		mustAddKeys(t, s, k0)
		const n = 8
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  [n]error
		)
		for i := range n {
			wg.Go(func() {
				<-start
				kid := fmt.Sprintf("k-racer-%d", i)
				next := testKey(kid, time.Hour+time.Duration(i)*time.Microsecond, 2*time.Hour)
				errs[i] = s.RotateSigningKey(t.Context(), next, at(10*time.Hour), k0.CreatedAt, auditEntry(i, root.ID, "key.rotate", kid))
			})
		}
		finishes(t, 30*time.Second, "racing RotateSigningKey calls", func() {
			close(start)
			wg.Wait()
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
