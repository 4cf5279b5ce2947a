package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

var deleteTests = []test{
	{"DeleteClient/RemovesOnlyThatClient", func(t *testing.T, s gatehouse.Store) {
		root, admin := bootstrap(t, s)
		gone, kept := newClient(root.ID, "gone"), newClient(root.ID, "kept")
		mustCreate(t, s, gone)
		mustCreate(t, s, kept)
		if err := s.DeleteClient(t.Context(), gone.ID, gatehouse.NoAudit); err != nil {
			t.Fatalf("DeleteClient: %v", err)
		}
		wantNotFound(t, s, gone.ID)
		sameClient(t, "the other client", mustGet(t, s, kept.ID), kept)
		if got, want := ids(mustList(t, s, gatehouse.ClientFilter{TenantID: root.ID})), []string{admin.ID, kept.ID}; !slices.Equal(got, want) {
			t.Errorf("ListClients after delete = %q, want %q", got, want)
		}
	}},

	{"DeleteClient/UnknownIsNotFound", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		if err := s.DeleteClient(t.Context(), "nobody", gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("DeleteClient(unknown) error = %v, want ErrNotFound", err)
		}
		c := newClient(root.ID, "twice")
		mustCreate(t, s, c)
		if err := s.DeleteClient(t.Context(), c.ID, gatehouse.NoAudit); err != nil {
			t.Fatalf("DeleteClient: %v", err)
		}
		if err := s.DeleteClient(t.Context(), c.ID, gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("second DeleteClient error = %v, want ErrNotFound", err)
		}
	}},

	{"DeleteClient/IDIsNeverReused", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		c := newClient(root.ID, "once")
		mustCreate(t, s, c)
		if err := s.DeleteClient(t.Context(), c.ID, gatehouse.NoAudit); err != nil {
			t.Fatalf("DeleteClient: %v", err)
		}
		again := newClient(root.ID, c.ID)
		again.CreatedBy = "someone else"
		if err := s.CreateClient(t.Context(), again, gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrConflict) {
			t.Errorf("CreateClient(deleted id) error = %v, want ErrConflict", err)
		}
		wantNotFound(t, s, c.ID)
		if got := ids(mustList(t, s, gatehouse.ClientFilter{TenantID: root.ID})); slices.Contains(got, c.ID) {
			t.Errorf("ListClients shows %q after the refused re-create: %q", c.ID, got)
		}
	}},

	{"DeleteClient/ThenUpdateIsNotFound", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		c := newClient(root.ID, "late")
		mustCreate(t, s, c)
		if err := s.DeleteClient(t.Context(), c.ID, gatehouse.NoAudit); err != nil {
			t.Fatalf("DeleteClient: %v", err)
		}
		_, err := s.UpdateClient(t.Context(), c.ID, func(cur gatehouse.Client) (gatehouse.Client, error) { return cur, nil }, gatehouse.NoAudit)
		if !errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("UpdateClient(deleted) error = %v, want ErrNotFound", err)
		}
		wantNotFound(t, s, c.ID)
	}},
}

var accessTests = []test{
	{"RecordAccess/SetsOnlyAccessFields", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		c := newClient(root.ID, "used")
		mustCreate(t, s, c)
		a := gatehouse.ClientAccess{ClientID: c.ID, At: at(time.Hour).In(time.FixedZone("X", 5*3600)), FromIP: "192.0.2.7"}
		if err := s.RecordAccess(t.Context(), []gatehouse.ClientAccess{a}); err != nil {
			t.Fatalf("RecordAccess: %v", err)
		}
		want := c
		want.LastAccessAt, want.LastAccessFromIP = a.At, a.FromIP
		sameClient(t, "after RecordAccess", mustGet(t, s, c.ID), want)
	}},

	{"RecordAccess/NewerReplacesOlderDoesNot", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		c := newClient(root.ID, "used")
		mustCreate(t, s, c)
		steps := []struct {
			at       time.Duration
			ip       string
			wantAt   time.Duration
			wantFrom string
		}{
			{10 * time.Minute, "192.0.2.1", 10 * time.Minute, "192.0.2.1"},
			{5 * time.Minute, "192.0.2.2", 10 * time.Minute, "192.0.2.1"},                   // older: ignored
			{10*time.Minute - time.Microsecond, "192.0.2.3", 10 * time.Minute, "192.0.2.1"}, // older by 1µs
			{20 * time.Minute, "192.0.2.4", 20 * time.Minute, "192.0.2.4"},                  // newer: taken
			{20*time.Minute + time.Microsecond, "192.0.2.5", 20*time.Minute + time.Microsecond, "192.0.2.5"},
		}
		for _, st := range steps {
			err := s.RecordAccess(t.Context(), []gatehouse.ClientAccess{{ClientID: c.ID, At: at(st.at), FromIP: st.ip}})
			if err != nil {
				t.Fatalf("RecordAccess: %v", err)
			}
			got := mustGet(t, s, c.ID)
			if !got.LastAccessAt.Equal(at(st.wantAt)) || got.LastAccessFromIP != st.wantFrom {
				t.Errorf("after access at +%v from %s: last access %v from %s, want %v from %s",
					st.at, st.ip, got.LastAccessAt, got.LastAccessFromIP, at(st.wantAt).UTC(), st.wantFrom)
			}
		}
	}},

	{"RecordAccess/BatchWithRepeatsAndUnknowns", func(t *testing.T, s gatehouse.Store) {
		root, admin := bootstrap(t, s)
		a, b := newClient(root.ID, "a"), newClient(root.ID, "b")
		mustCreate(t, s, a)
		mustCreate(t, s, b)
		batch := []gatehouse.ClientAccess{
			{ClientID: "ghost", At: at(time.Hour), FromIP: "198.51.100.9"},
			{ClientID: a.ID, At: at(5 * time.Minute), FromIP: "10.0.0.5"},
			{ClientID: a.ID, At: at(7 * time.Minute), FromIP: "10.0.0.7"}, // newest for a
			{ClientID: b.ID, At: at(3 * time.Minute), FromIP: "10.0.1.3"},
			{ClientID: a.ID, At: at(6 * time.Minute), FromIP: "10.0.0.6"},
			{ClientID: "ghost-2", At: at(time.Hour), FromIP: "198.51.100.10"},
		}
		if err := s.RecordAccess(t.Context(), batch); err != nil {
			t.Fatalf("RecordAccess with unknown clients: %v", err)
		}
		wantA, wantB := a, b
		wantA.LastAccessAt, wantA.LastAccessFromIP = at(7*time.Minute), "10.0.0.7"
		wantB.LastAccessAt, wantB.LastAccessFromIP = at(3*time.Minute), "10.0.1.3"
		sameClient(t, "client a", mustGet(t, s, a.ID), wantA)
		sameClient(t, "client b", mustGet(t, s, b.ID), wantB)
		sameClient(t, "untouched admin", mustGet(t, s, admin.ID), admin)
		wantNotFound(t, s, "ghost")
		wantNotFound(t, s, "ghost-2")

		// Deleted clients are unknown too.
		if err := s.DeleteClient(t.Context(), b.ID, gatehouse.NoAudit); err != nil {
			t.Fatalf("DeleteClient: %v", err)
		}
		if err := s.RecordAccess(t.Context(), []gatehouse.ClientAccess{{ClientID: b.ID, At: at(time.Hour), FromIP: "10.0.1.9"}}); err != nil {
			t.Errorf("RecordAccess for a deleted client: %v", err)
		}
		wantNotFound(t, s, b.ID)
		if err := s.RecordAccess(t.Context(), nil); err != nil {
			t.Errorf("RecordAccess(nil): %v", err)
		}
	}},

	{"RecordAccess/ConcurrentWithUpdates", func(t *testing.T, s gatehouse.Store) {
		// An update must not write back a last access it read before a
		// concurrent RecordAccess, nor RecordAccess undo an update.
		root, _ := bootstrap(t, s)
		c := newClient(root.ID, "busy")
		mustCreate(t, s, c)
		const n = 10
		var errs []error
		finishes(t, 30*time.Second, "racing UpdateClient and RecordAccess calls", func() {
			// Racers below n update the client; the others record accesses.
			errs = testkit.Race(2*n, func(i int) error {
				if i < n {
					_, err := s.UpdateClient(t.Context(), c.ID, func(cur gatehouse.Client) (gatehouse.Client, error) {
						cur.Generation++
						return cur, nil
					}, gatehouse.NoAudit)
					return err
				}
				i -= n
				return s.RecordAccess(t.Context(), []gatehouse.ClientAccess{
					{ClientID: c.ID, At: at(time.Duration(i+1) * time.Second), FromIP: fmt.Sprintf("10.0.0.%d", i+1)},
				})
			})
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("racer %d: %v", i, err)
			}
		}
		got := mustGet(t, s, c.ID)
		if got.Generation != c.Generation+n {
			t.Errorf("Generation = %d, want %d", got.Generation, c.Generation+n)
		}
		if !got.LastAccessAt.Equal(at(n*time.Second)) || got.LastAccessFromIP != fmt.Sprintf("10.0.0.%d", n) {
			t.Errorf("last access %v from %s, want the newest, %v from 10.0.0.%d",
				got.LastAccessAt, got.LastAccessFromIP, at(n*time.Second).UTC(), n)
		}
	}},
}
