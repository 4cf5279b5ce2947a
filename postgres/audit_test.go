package postgres

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/postgres/pgtest"
	"github.com/gatehouse-dev/gatehouse/storetest"
)

func TestAuditAtomicity(t *testing.T) {
	pgtest.DSN(t)
	storetest.RunAuditAtomicity(t,
		func(t *testing.T) gatehouse.Store { return openTest(t, pgtest.NewSchema(t)) },
		func(t *testing.T, s gatehouse.Store) {
			// A trigger, so that only the audit insert fails, and fails
			// inside the change's transaction, as a full disk would.
			_, err := s.(*Store).pool.Exec(t.Context(), `
				CREATE FUNCTION audit_broken() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN
					RAISE EXCEPTION 'the audit log is broken';
				END;
				$$;
				CREATE TRIGGER audit_broken BEFORE INSERT ON audit
				FOR EACH ROW EXECUTE FUNCTION audit_broken();`)
			if err != nil {
				t.Fatal(err)
			}
		})
}

func TestAuditUnstorableTenant(t *testing.T) {
	// PostgreSQL text holds neither NUL nor invalid UTF-8, so no tenant
	// has such an id: an entry naming one is refused, and a log asked for
	// is empty, rather than either failing with a database error.
	s := openTest(t, pgtest.NewSchema(t))
	for _, tenant := range []string{"a\x00b", "\xff"} {
		e := gatehouse.AuditEntry{Time: time.Now(), TenantID: tenant, ActorID: "a", Action: "x", Outcome: gatehouse.OutcomeDenied}
		if err := s.AppendAudit(t.Context(), e); !errors.Is(err, gatehouse.ErrInvalid) {
			t.Errorf("AppendAudit(tenant %q) = %v, want ErrInvalid", tenant, err)
		}
		if got, err := s.ListAudit(t.Context(), gatehouse.AuditFilter{TenantID: tenant}); err != nil || len(got) != 0 {
			t.Errorf("ListAudit(tenant %q) = %d entries, %v; want none, nil", tenant, len(got), err)
		}
	}
}

func TestConcurrentRotationAcrossReplicas(t *testing.T) {
	// The storetest race runs on one pool; here the racers are spread
	// over separate stores, as replicas are.
	dsn := pgtest.NewSchema(t)
	replicas := []*Store{openTest(t, dsn), openTest(t, dsn), openTest(t, dsn)}
	ctx := t.Context()
	if err := replicas[0].UpdateSigningKeys(ctx, storetest.AddKeys(testKey), gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	const n = 12
	errs := testkit.Race(n, func(i int) error {
		k := testKey
		k.ID = fmt.Sprintf("racer-%02d", i)
		k.CreatedAt = testKey.CreatedAt.Add(time.Duration(i+1) * time.Second)
		k.ActiveAt = k.CreatedAt.Add(time.Hour)
		return replicas[i%len(replicas)].UpdateSigningKeys(ctx, storetest.Rotating(k, k.ActiveAt.Add(time.Hour), testKey.CreatedAt), gatehouse.NoAudit)
	})
	var won []string
	for i, err := range errs {
		switch {
		case err == nil:
			won = append(won, fmt.Sprintf("racer-%02d", i))
		case !errors.Is(err, gatehouse.ErrConflict):
			t.Errorf("racer %d: %v, want ErrConflict", i, err)
		}
	}
	if len(won) != 1 {
		t.Fatalf("rotations that succeeded: %q, want exactly one", won)
	}
	got, err := replicas[1].SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range got {
		kids = append(kids, k.ID)
	}
	if want := testKey.ID + "," + won[0]; strings.Join(kids, ",") != want {
		t.Errorf("keys = %q, want %s", kids, want)
	}
}

// The keys' trigger announces in the order the transaction wrote: the new
// key, then each key whose retirement changed (the suite accepts any order).
func TestRotationIsAnnouncedInWriteOrder(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	a, b := openTest(t, dsn), openTest(t, dsn) // two replicas
	ctx := t.Context()
	changes := watch(t, a)
	expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeResync}, 10*time.Second)
	keys := func(kid string) gatehouse.Change { return gatehouse.Change{Kind: gatehouse.ChangeKeys, ID: kid} }
	k1 := testKey
	if err := b.UpdateSigningKeys(ctx, storetest.AddKeys(k1), gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, keys(k1.ID), 5*time.Second)
	k2 := k1
	k2.ID, k2.CreatedAt, k2.ActiveAt = "kid-2", k1.CreatedAt.Add(time.Hour), k1.ActiveAt.Add(2*time.Hour)
	if err := b.UpdateSigningKeys(ctx, storetest.Rotating(k2, k2.ActiveAt.Add(time.Hour), k1.CreatedAt), gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, keys(k2.ID), 5*time.Second)
	expect(t, changes, keys(k1.ID), 5*time.Second)
	expectNone(t, changes, 300*time.Millisecond)
}
