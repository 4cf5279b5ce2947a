package service

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// rotBase is the rule tests' clock: whole microseconds, as stored keys are.
var rotBase = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

func rotAt(d time.Duration) time.Time { return rotBase.Add(d) }

func rotKey(id string, created, active time.Duration) gatehouse.SigningKey {
	return gatehouse.SigningKey{ID: id, Algorithm: "RS256", PrivateKey: []byte("key of " + id),
		CreatedAt: rotAt(created), ActiveAt: rotAt(active)}
}

func retiringAt(k gatehouse.SigningKey, at time.Time) gatehouse.SigningKey {
	k.RetireAt = at
	return k
}

func sameKeySet(t *testing.T, what string, got []gatehouse.SigningKey, want ...gatehouse.SigningKey) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d keys, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || !g.CreatedAt.Equal(w.CreatedAt) || !g.ActiveAt.Equal(w.ActiveAt) || !g.RetireAt.Equal(w.RetireAt) {
			t.Errorf("%s: key %d = %s created %v active %v retire %v; want %s created %v active %v retire %v", what, i,
				g.ID, g.CreatedAt, g.ActiveAt, g.RetireAt, w.ID, w.CreatedAt, w.ActiveAt, w.RetireAt)
		}
	}
}

func TestRotateKeySetRetiresExactlyTheKeysActiveBeforeNext(t *testing.T) {
	retire := rotAt(50 * time.Hour)
	never := rotKey("never-retiring", 0, time.Hour) // RetireAt zero: never
	later := retiringAt(rotKey("retiring-later", 0, 2*time.Hour), rotAt(100*time.Hour))
	earlier := retiringAt(rotKey("retiring-earlier", 0, 0), rotAt(10*time.Hour))
	same := retiringAt(rotKey("retiring-then", 0, 3*time.Hour), retire)
	// Active just before next: a predecessor, by a microsecond.
	justBefore := rotKey("active-just-before", 0, 20*time.Hour-time.Microsecond)
	// Active with next or after it: not a predecessor, whatever its
	// creation time.
	together := rotKey("active-with-next", 0, 20*time.Hour)
	successor := retiringAt(rotKey("active-after-next", 30*time.Hour, 30*time.Hour), rotAt(200*time.Hour))
	current := []gatehouse.SigningKey{never, later, earlier, same, justBefore, together, successor}

	next := rotKey("next", 5*time.Hour, 20*time.Hour) // RetireAt zero, and stays so
	// Below the stores' precision, next activates no earlier than
	// "active-with-next" does: the rule compares as the stores did.
	next.ActiveAt = next.ActiveAt.Add(500 * time.Nanosecond)
	got, err := rotateKeySet(current, next, retire, time.Time{})
	if err != nil {
		t.Fatalf("rotateKeySet: %v", err)
	}
	sameKeySet(t, "after the rotation", got,
		retiringAt(never, retire),      // never → retire
		retiringAt(later, retire),      // later → retire
		earlier,                        // earlier: kept
		same,                           // equal: kept
		retiringAt(justBefore, retire), // never → retire
		together,                       // not active before next
		successor,                      // active after next
		next,                           // next itself, as given
	)
	if _, err := gatehouse.DiffSigningKeys(current, got); err != nil {
		t.Errorf("a store would refuse the rotated set: %v", err)
	}
}

func TestRotateKeySetFirstKey(t *testing.T) {
	next := retiringAt(rotKey("first", 0, time.Hour), rotAt(1000*time.Hour))
	got, err := rotateKeySet(nil, next, rotAt(10*time.Hour), rotAt(-time.Hour))
	if err != nil {
		t.Fatalf("rotateKeySet on an empty set: %v", err)
	}
	sameKeySet(t, "after the first rotation", got, next)
}

func TestRotateKeySetUnlessCreatedAfter(t *testing.T) {
	k1 := rotKey("k-1", time.Hour, time.Hour)
	// A key created exactly at unlessCreatedAfter is not after it.
	k2 := rotKey("k-2", 2*time.Hour, 3*time.Hour)
	set, err := rotateKeySet([]gatehouse.SigningKey{k1}, k2, rotAt(10*time.Hour), rotAt(time.Hour))
	if err != nil {
		t.Fatalf("rotateKeySet(unless created after k-1's creation): %v", err)
	}
	sameKeySet(t, "after the first rotation", set, retiringAt(k1, rotAt(10*time.Hour)), k2)

	// Now k-2 is newer than k-1's creation, and than a microsecond (or a
	// nanosecond, below the stores' precision) before its own: any such
	// cursor means another rotation came first.
	k3 := rotKey("k-3", 4*time.Hour, 5*time.Hour)
	for _, unless := range []time.Time{rotAt(time.Hour), rotAt(2*time.Hour - time.Microsecond)} {
		if _, err := rotateKeySet(set, k3, rotAt(20*time.Hour), unless); !errors.Is(err, gatehouse.ErrConflict) {
			t.Errorf("rotateKeySet(unless created after %v) error = %v, want ErrConflict", unless, err)
		}
	}
	// Below the stores' precision, a cursor inside k-2's microsecond is
	// not before it.
	if _, err := rotateKeySet(set, k3, rotAt(20*time.Hour), rotAt(2*time.Hour+500*time.Nanosecond)); err != nil {
		t.Errorf("rotateKeySet(unless created after k-2's microsecond): %v", err)
	}
	// Without unlessCreatedAfter nothing is checked.
	got, err := rotateKeySet(set, k3, rotAt(20*time.Hour), time.Time{})
	if err != nil {
		t.Fatalf("rotateKeySet(no unlessCreatedAfter): %v", err)
	}
	sameKeySet(t, "after the unchecked rotation", got,
		retiringAt(k1, rotAt(10*time.Hour)), retiringAt(k2, rotAt(20*time.Hour)), k3)
}

func TestRotateKeySetRefusesZeroRetirement(t *testing.T) {
	// The zero time would retire every earlier key at once, and with them
	// every token they signed: refused, not guessed at.
	_, err := rotateKeySet([]gatehouse.SigningKey{rotKey("k-1", 0, 0)}, rotKey("k-2", time.Hour, time.Hour), time.Time{}, time.Time{})
	if !errors.Is(err, gatehouse.ErrInvalid) {
		t.Errorf("rotateKeySet(zero retirePrevious) error = %v, want ErrInvalid", err)
	}
}

// Replicas that find rotation due at the same moment race through the
// store's key-set transaction with the rule: exactly one rotates, and only
// its rotation is audited.
func TestConcurrentScheduledRotationsOneWins(t *testing.T) {
	svc, _, _ := consoleTestService(t, nil)
	ctx := t.Context()
	keys, err := svc.store.SigningKeys(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("SigningKeys = %d keys, %v; want the first key", len(keys), err)
	}
	system, err := svc.systemPrincipal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := testkit.Race(n, func(int) error {
		_, err := svc.rotate(ctx, system, keys[0].CreatedAt)
		return err
	})
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, gatehouse.ErrConflict):
			t.Errorf("rotation %d: %v, want ErrConflict", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d rotations won, want exactly 1", won)
	}
	after, err := svc.store.SigningKeys(ctx)
	if err != nil || len(after) != 2 {
		t.Fatalf("SigningKeys after the race = %d keys, %v; want 2", len(after), err)
	}
	if after[0].RetireAt.IsZero() {
		t.Error("the first key was not given a retirement by the winning rotation")
	}
	es, err := svc.store.ListAudit(ctx, gatehouse.AuditFilter{TenantID: system.Client.TenantID, Target: after[1].ID})
	if err != nil || len(es) != 1 || es[0].Action != ActionKeyRotate {
		t.Errorf("audit of the winning rotation = %v, %v; want one %s entry", es, err, ActionKeyRotate)
	}
	if all, _ := svc.store.ListAudit(ctx, gatehouse.AuditFilter{TenantID: system.Client.TenantID}); countAction(all, ActionKeyRotate) != 1 {
		t.Errorf("%d rotations audited, want 1", countAction(all, ActionKeyRotate))
	}
}

func countAction(es []gatehouse.AuditEntry, action string) int {
	n := 0
	for _, e := range es {
		if e.Action == action {
			n++
		}
	}
	return n
}
