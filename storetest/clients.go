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

// awkwardData is valid JSON that any re-encoding would change: spacing, key
// order, escapes, raw non-ASCII, and numbers that float64 cannot hold.
const awkwardData = "{ \"zeta\" : 1,\n\t\"client_name\":\"Caf\\u00e9 ☕ \\\"quoted\\\"\",\"big\":12345678901234567890123,\"f\":1.50,\"e\":1E+2," +
	"\"nested\":{\"b\":[1 ,2,3],\"a\":null} }"

var createTests = []test{
	{"CreateClient/RoundTripsEveryField", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		c := gatehouse.Client{
			ID:               "c-Ω/1 %_?#",
			TenantID:         root.ID,
			AuthMethod:       gatehouse.AuthSecretPost,
			Role:             gatehouse.RoleTenantAdmin,
			Status:           gatehouse.StatusDisabled,
			Data:             json.RawMessage(awkwardData),
			SecretHash:       []byte{0x00, 0xff, 0x80, 'h', 0x00, 0x7f, 0xc3, 0x28},
			Generation:       7,
			CreatedAt:        at(time.Second),
			CreatedBy:        "admin",
			UpdatedAt:        at(time.Hour + time.Microsecond),
			LastAccessAt:     at(2 * time.Hour).In(time.FixedZone("PDT", -7*3600)),
			LastAccessFromIP: "2001:db8::1",
		}
		mustCreate(t, s, c)
		got := mustGet(t, s, c.ID)
		sameClient(t, "GetClient", got, c)
		listed := mustList(t, s, gatehouse.ClientFilter{TenantID: root.ID, Limit: 10})
		i := slices.IndexFunc(listed, func(l gatehouse.Client) bool { return l.ID == c.ID })
		if i < 0 {
			t.Fatalf("ListClients does not list %q: %q", c.ID, ids(listed))
		}
		sameClient(t, "ListClients", listed[i], c)
	}},

	{"CreateClient/EmptyOptionalFields", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		c := newClient(root.ID, "bare")
		c.Role = gatehouse.RoleNone
		c.Data = nil
		c.Generation = 0
		c.CreatedBy = ""
		mustCreate(t, s, c)
		got := mustGet(t, s, c.ID)
		sameClient(t, "GetClient", got, c)
		if len(got.Data) != 0 {
			t.Errorf("Data = %q, want empty", got.Data)
		}
		if !got.LastAccessAt.IsZero() || got.LastAccessFromIP != "" {
			t.Errorf("never-used client has last access %v from %q", got.LastAccessAt, got.LastAccessFromIP)
		}
	}},

	{"CreateClient/SubMicrosecondTimes", func(t *testing.T, s gatehouse.Store) {
		// Backends keep at least microseconds; whether they truncate or
		// round the rest is theirs to choose.
		root, _ := bootstrap(t, s)
		c := newClient(root.ID, "nanos")
		c.CreatedAt = at(123456789 * time.Nanosecond)
		c.UpdatedAt = at(time.Second + 999*time.Nanosecond)
		mustCreate(t, s, c)
		got := mustGet(t, s, c.ID)
		for _, p := range []struct {
			name      string
			got, want time.Time
		}{{"CreatedAt", got.CreatedAt, c.CreatedAt}, {"UpdatedAt", got.UpdatedAt, c.UpdatedAt}} {
			if d := p.got.Sub(p.want).Abs(); d >= time.Microsecond {
				t.Errorf("%s = %v, want within 1µs of %v", p.name, p.got, p.want)
			}
			if p.got.Location() != time.UTC {
				t.Errorf("%s is in zone %v, want UTC", p.name, p.got.Location())
			}
		}
	}},

	{"CreateClient/DoesNotAliasCallerMemory", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		c := newClient(root.ID, "alias")
		want := newClient(root.ID, "alias")
		mustCreate(t, s, c)
		c.Data[2] = 'X'
		c.SecretHash[0] = 'X'
		got := mustGet(t, s, c.ID)
		got.Data[2] = 'Y'
		got.SecretHash[0] = 'Y'
		sameClient(t, "after mutating the caller's slices", mustGet(t, s, c.ID), want)
	}},

	{"CreateClient/DuplicateIDConflicts", func(t *testing.T, s gatehouse.Store) {
		root, admin := bootstrap(t, s)
		c := newClient(root.ID, "dup")
		mustCreate(t, s, c)
		again := newClient(root.ID, "dup")
		again.Status = gatehouse.StatusDisabled
		again.Generation = 42
		if err := s.CreateClient(t.Context(), again, gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrConflict) {
			t.Errorf("CreateClient(existing id): error = %v, want ErrConflict", err)
		}
		if err := s.CreateClient(t.Context(), newClient(root.ID, admin.ID), gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrConflict) {
			t.Errorf("CreateClient(bootstrapped admin's id): error = %v, want ErrConflict", err)
		}
		sameClient(t, "after the duplicate", mustGet(t, s, c.ID), c)
		sameClient(t, "admin after the duplicate", mustGet(t, s, admin.ID), admin)
	}},

	{"CreateClient/UnknownTenantFails", func(t *testing.T, s gatehouse.Store) {
		bootstrap(t, s)
		c := newClient("no-such-tenant", "orphan")
		if err := s.CreateClient(t.Context(), c, gatehouse.NoAudit); err == nil {
			t.Error("CreateClient in a tenant that does not exist succeeded")
		}
		wantNotFound(t, s, c.ID)
	}},

	{"CreateClient/ConcurrentDistinctIDs", func(t *testing.T, s gatehouse.Store) {
		root, admin := bootstrap(t, s)
		const n = 20
		want := []string{admin.ID}
		for i := range n {
			want = append(want, fmt.Sprintf("par-%02d", i))
		}
		var errs []error
		finishes(t, 30*time.Second, "concurrent CreateClient calls", func() {
			errs = testkit.Race(n, func(i int) error {
				return s.CreateClient(t.Context(), newClient(root.ID, fmt.Sprintf("par-%02d", i)), gatehouse.NoAudit)
			})
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("CreateClient(par-%02d): %v", i, err)
			}
		}
		slices.Sort(want)
		if got := ids(mustList(t, s, gatehouse.ClientFilter{TenantID: root.ID})); !slices.Equal(got, want) {
			t.Errorf("ListClients after concurrent creates = %q, want %q", got, want)
		}
	}},

	{"CreateClient/ConcurrentSameID", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		const n = 20
		var errs []error
		finishes(t, 30*time.Second, "concurrent CreateClient calls", func() {
			errs = testkit.Race(n, func(i int) error {
				c := newClient(root.ID, "contested")
				c.Generation = int64(i)
				return s.CreateClient(t.Context(), c, gatehouse.NoAudit)
			})
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("racers %d and %d both created %q", winner, i, "contested")
			case err == nil:
				winner = i
			case !errors.Is(err, gatehouse.ErrConflict):
				t.Errorf("racer %d: error = %v, want ErrConflict", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no racer created the client")
		}
		if got := mustGet(t, s, "contested"); got.Generation != int64(winner) {
			t.Errorf("stored Generation = %d, want the winner's %d", got.Generation, winner)
		}
	}},

	{"GetClient/Unknown", func(t *testing.T, s gatehouse.Store) {
		wantNotFound(t, s, "nobody")
		bootstrap(t, s)
		wantNotFound(t, s, "nobody")
		wantNotFound(t, s, "")
	}},
}
