package storetest

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// keyBytes is stand-in key material: every byte value, and a marker that
// must never show up in an error message.
func keyBytes(marker string) []byte {
	b := []byte("PRIVATE-" + marker + "-")
	for i := range 512 {
		b = append(b, byte(i))
	}
	return b
}

var keyTests = []test{
	{"SigningKeys/EmptyStore", func(t *testing.T, s gatehouse.Store) {
		keys, err := s.SigningKeys(t.Context())
		if err != nil || len(keys) != 0 {
			t.Errorf("SigningKeys on an empty store = %d keys, %v; want none, nil", len(keys), err)
		}
	}},

	{"SigningKeys/OldestFirstEveryField", func(t *testing.T, s gatehouse.Store) {
		pdt := time.FixedZone("PDT", -7*3600)
		newest1 := gatehouse.SigningKey{ID: "k-b", Algorithm: "RS256", PrivateKey: keyBytes("b"),
			CreatedAt: at(2 * time.Hour), ActiveAt: at(3 * time.Hour)} // RetireAt zero: never retires
		newest2 := gatehouse.SigningKey{ID: "k-c", Algorithm: "RS256", PrivateKey: keyBytes("c"),
			CreatedAt: at(2 * time.Hour), ActiveAt: at(2 * time.Hour).In(pdt), RetireAt: at(50 * time.Hour)}
		middle := gatehouse.SigningKey{ID: "k-a", Algorithm: "RS512", PrivateKey: keyBytes("a"),
			CreatedAt: at(time.Hour), ActiveAt: at(time.Hour + time.Microsecond), RetireAt: at(48 * time.Hour)}
		oldest := gatehouse.SigningKey{ID: "k-z", Algorithm: "RS256", PrivateKey: keyBytes("z"),
			CreatedAt: at(30 * time.Minute).In(pdt), ActiveAt: at(31 * time.Minute), RetireAt: at(time.Hour)}
		for _, k := range []gatehouse.SigningKey{newest2, newest1, middle, oldest} {
			if err := s.UpdateSigningKeys(t.Context(), AddKeys(k), gatehouse.NoAudit); err != nil {
				t.Fatalf("UpdateSigningKeys/Add(%q): %v", k.ID, err)
			}
		}
		got, err := s.SigningKeys(t.Context())
		if err != nil {
			t.Fatalf("SigningKeys: %v", err)
		}
		want := []gatehouse.SigningKey{oldest, middle, newest1, newest2}
		if len(got) != len(want) {
			t.Fatalf("SigningKeys returned %d keys, want %d", len(got), len(want))
		}
		for i := range want {
			sameKey(t, "SigningKeys", got[i], want[i])
		}
		if !got[2].RetireAt.IsZero() {
			t.Errorf("key without RetireAt came back with RetireAt %v", got[2].RetireAt)
		}
	}},

	{"UpdateSigningKeys/Add/DuplicateKidConflicts", func(t *testing.T, s gatehouse.Store) {
		k := gatehouse.SigningKey{ID: "kid-1", Algorithm: "RS256", PrivateKey: keyBytes("first"),
			CreatedAt: at(0), ActiveAt: at(0)}
		if err := s.UpdateSigningKeys(t.Context(), AddKeys(k), gatehouse.NoAudit); err != nil {
			t.Fatalf("UpdateSigningKeys: %v", err)
		}
		dup := k
		dup.PrivateKey = keyBytes("second")
		dup.CreatedAt = at(time.Hour)
		err := s.UpdateSigningKeys(t.Context(), AddKeys(dup), gatehouse.NoAudit)
		if !errors.Is(err, gatehouse.ErrConflict) {
			t.Errorf("UpdateSigningKeys/Add(duplicate kid) error = %v, want ErrConflict", err)
		}
		if err != nil {
			msg := err.Error()
			if strings.Contains(msg, "PRIVATE-") || strings.Contains(strings.ToLower(msg), hex.EncodeToString(dup.PrivateKey[:8])) {
				t.Errorf("error message carries key material: %q", msg)
			}
		}
		keys, err := s.SigningKeys(t.Context())
		if err != nil || len(keys) != 1 {
			t.Fatalf("SigningKeys = %d keys, %v; want 1", len(keys), err)
		}
		sameKey(t, "after the duplicate", keys[0], k)
	}},
}

var miscTests = []test{
	{"Ping", func(t *testing.T, s gatehouse.Store) {
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	}},

	{"Heartbeat", func(t *testing.T, s gatehouse.Store) {
		// The row is rewritten, not added: a second beat must succeed.
		for i := range 3 {
			if err := s.Heartbeat(t.Context(), at(time.Duration(i)*time.Second)); err != nil {
				t.Fatalf("Heartbeat %d: %v", i, err)
			}
		}
		canceled, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.Heartbeat(canceled, at(time.Hour)); err == nil {
			t.Error("Heartbeat with a canceled context succeeded")
		}
	}},

	{"Context/CanceledCallsFailWithoutEffect", func(t *testing.T, s gatehouse.Store) {
		canceled, cancel := context.WithCancel(t.Context())
		cancel()

		// Bootstrap first, on the still empty store.
		var (
			created bool
			err     error
		)
		finishes(t, 10*time.Second, "Bootstrap with a canceled context", func() {
			created, err = s.Bootstrap(canceled, rootTenant(rootID), newClient(rootID, adminID))
		})
		if err == nil || created {
			t.Errorf("Bootstrap(canceled) = %v, %v; want an error", created, err)
		}
		root, admin := bootstrap(t, s) // fails if the canceled call did bootstrap

		victim := newClient(root.ID, "victim")
		mustCreate(t, s, victim)
		calls := []struct {
			name string
			call func(ctx context.Context) error
		}{
			{"GetTenant", func(ctx context.Context) error { _, err := s.GetTenant(ctx, root.ID); return err }},
			{"GetClient", func(ctx context.Context) error { _, err := s.GetClient(ctx, admin.ID); return err }},
			{"ListClients", func(ctx context.Context) error {
				_, err := s.ListClients(ctx, gatehouse.ClientFilter{TenantID: root.ID})
				return err
			}},
			{"CreateClient", func(ctx context.Context) error {
				return s.CreateClient(ctx, newClient(root.ID, "never"), gatehouse.NoAudit)
			}},
			{"UpdateClient", func(ctx context.Context) error {
				_, err := s.UpdateClient(ctx, victim.ID, func(c gatehouse.Client) (gatehouse.Client, error) {
					c.Generation += 100
					return c, nil
				}, gatehouse.NoAudit)
				return err
			}},
			{"DeleteClient", func(ctx context.Context) error { return s.DeleteClient(ctx, victim.ID, gatehouse.NoAudit) }},
			{"RecordAccess", func(ctx context.Context) error {
				return s.RecordAccess(ctx, []gatehouse.ClientAccess{{ClientID: victim.ID, At: at(time.Hour), FromIP: "192.0.2.1"}})
			}},
			{"SigningKeys", func(ctx context.Context) error { _, err := s.SigningKeys(ctx); return err }},
			{"UpdateSigningKeys/Add", func(ctx context.Context) error {
				return s.UpdateSigningKeys(ctx, AddKeys(gatehouse.SigningKey{ID: "never", Algorithm: "RS256", PrivateKey: keyBytes("x"), CreatedAt: at(0), ActiveAt: at(0)}), gatehouse.NoAudit)
			}},
			{"Ping", func(ctx context.Context) error { return s.Ping(ctx) }},
		}
		for _, c := range calls {
			finishes(t, 10*time.Second, c.name+" with a canceled context", func() { err = c.call(canceled) })
			if err == nil {
				t.Errorf("%s with a canceled context returned no error", c.name)
			}
		}
		wantNotFound(t, s, "never")
		sameClient(t, "client after canceled update, delete and access", mustGet(t, s, victim.ID), victim)
		if keys, err := s.SigningKeys(t.Context()); err != nil || len(keys) != 0 {
			t.Errorf("SigningKeys after canceled UpdateSigningKeys = %d keys, %v; want none", len(keys), err)
		}
	}},

	{"Context/DeadlineWhileAnotherUpdateHoldsTheClient", func(t *testing.T, s gatehouse.Store) {
		// A writer stuck behind another must give up when its context
		// ends, not wait for the other to finish.
		root, _ := bootstrap(t, s)
		c := newClient(root.ID, "held")
		mustCreate(t, s, c)

		entered, release := make(chan struct{}), make(chan struct{})
		var releaseOnce sync.Once
		unblock := func() { releaseOnce.Do(func() { close(release) }) }
		defer unblock()
		holderErr := make(chan error, 1)
		go func() {
			_, err := s.UpdateClient(t.Context(), c.ID, func(cur gatehouse.Client) (gatehouse.Client, error) {
				close(entered)
				<-release
				cur.Generation++
				return cur, nil
			}, gatehouse.NoAudit)
			holderErr <- err
		}()
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("first UpdateClient never called its fn")
		}

		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		waited := make(chan error, 1)
		go func() {
			_, err := s.UpdateClient(ctx, c.ID, func(cur gatehouse.Client) (gatehouse.Client, error) {
				cur.Generation += 100
				return cur, nil
			}, gatehouse.NoAudit)
			waited <- err
		}()
		select {
		case err := <-waited:
			if err == nil {
				t.Error("UpdateClient behind a held update succeeded before the holder finished")
			}
		case <-time.After(10 * time.Second):
			unblock()
			t.Fatal("UpdateClient with a 200ms deadline was still waiting after 10s")
		}
		unblock()
		if err := <-holderErr; err != nil {
			t.Fatalf("holding UpdateClient: %v", err)
		}
		if got := mustGet(t, s, c.ID).Generation; got != c.Generation+1 {
			t.Errorf("Generation = %d, want %d: only the holder's update may land", got, c.Generation+1)
		}
	}},
}
