// Package storetest is the conformance suite every gatehouse.Store backend
// must pass. A backend's own test calls Run with a constructor of fresh,
// empty stores:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) gatehouse.Store {
//			s, err := mybackend.Open(...)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite pins down what the Store interface only states in prose, and the
// details a backend could plausibly get wrong: byte-exact JSON, time
// precision and zone, bytewise ID order, tombstoned IDs, lost updates under
// concurrency, racing key rotations, audit entries recorded with (and only
// with) the change they describe, and context cancellation.
// RunAuditAtomicity adds the one check that needs the backend's help:
// breaking its audit log, to see that a change fails with its entry. Each
// subtest gets its own store, and subtests run one at a time, so stores may
// share a server (newStore could empty one database each time) as long as
// each starts empty.
//
// A backend's other capabilities have suites of their own, run by every
// backend that provides one (see gatehouse.Backend): RunChangeFeed for a
// change feed, RunLimiter for a failure limiter (ratelimit.Memory passes
// it too), and RunSharedLimiter for a limiter that replicas share.
package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

type test struct {
	name string
	run  func(t *testing.T, s gatehouse.Store)
}

// Run runs the whole suite against stores made by newStore, one fresh and
// empty store per subtest. newStore should register the store's Close with
// t.Cleanup; Run does not close stores.
func Run(t *testing.T, newStore func(t *testing.T) gatehouse.Store) {
	t.Helper()
	var all []test
	for _, group := range [][]test{
		bootstrapTests,
		tenantTests,
		createTests,
		listTests,
		updateTests,
		deleteTests,
		accessTests,
		keyTests,
		miscTests,
		revocationTests,
		rootTenantTests,
		rotateTests,
		auditTests,
		tenantTreeTests,
		usageTests,
	} {
		all = append(all, group...)
	}
	for _, tc := range all {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

// base is the suite's clock: a whole number of microseconds, so every
// backend can store it exactly, in a zone other than UTC, so a backend that
// keeps the zone or mangles it is caught.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.FixedZone("CET", 3600))

func at(d time.Duration) time.Time { return base.Add(d) }

func rootTenant(id string) gatehouse.Tenant {
	return gatehouse.Tenant{
		ID:        id,
		Name:      "Root of " + id,
		Kind:      "root",
		Enabled:   true,
		Version:   3,
		CreatedAt: at(0),
		UpdatedAt: at(90*time.Second + 123*time.Microsecond),
	}
}

func newClient(tenantID, id string) gatehouse.Client {
	return gatehouse.Client{
		ID:         id,
		TenantID:   tenantID,
		AuthMethod: gatehouse.AuthSecretBasic,
		Role:       gatehouse.RoleNone,
		Status:     gatehouse.StatusEnabled,
		Data:       json.RawMessage(fmt.Sprintf(`{"client_name":%q}`, "name of "+id)),
		SecretHash: []byte("hs256v1:\x00\xff hash of " + id),
		Generation: 1,
		CreatedAt:  at(time.Minute),
		CreatedBy:  "admin",
		UpdatedAt:  at(2 * time.Minute),
	}
}

const (
	rootID  = "root"
	adminID = "admin"
)

// bootstrap gives s the suite's standard root tenant and admin client.
func bootstrap(t *testing.T, s gatehouse.Store) (gatehouse.Tenant, gatehouse.Client) {
	t.Helper()
	root := rootTenant(rootID)
	admin := newClient(rootID, adminID)
	admin.Role = gatehouse.RoleTenantAdmin
	created, err := s.Bootstrap(t.Context(), root, admin)
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	if !created {
		t.Fatal("Bootstrap on an empty store reported created=false")
	}
	return root, admin
}

func mustCreate(t *testing.T, s gatehouse.Store, c gatehouse.Client) {
	t.Helper()
	if err := s.CreateClient(t.Context(), c, gatehouse.NoAudit); err != nil {
		t.Fatalf("CreateClient(%q): %v", c.ID, err)
	}
}

func mustGet(t *testing.T, s gatehouse.Store, id string) gatehouse.Client {
	t.Helper()
	c, err := s.GetClient(t.Context(), id)
	if err != nil {
		t.Fatalf("GetClient(%q): %v", id, err)
	}
	return c
}

func wantNotFound(t *testing.T, s gatehouse.Store, id string) {
	t.Helper()
	if c, err := s.GetClient(t.Context(), id); !errors.Is(err, gatehouse.ErrNotFound) {
		t.Fatalf("GetClient(%q) = client %q, error %v; want ErrNotFound", id, c.ID, err)
	}
}

func mustList(t *testing.T, s gatehouse.Store, f gatehouse.ClientFilter) []gatehouse.Client {
	t.Helper()
	cs, err := s.ListClients(t.Context(), f)
	if err != nil {
		t.Fatalf("ListClients(%+v): %v", f, err)
	}
	return cs
}

func ids(cs []gatehouse.Client) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// sameClient fails t unless got holds exactly want's fields: times equal as
// instants and in UTC, byte slices equal byte for byte.
func sameClient(t *testing.T, what string, got, want gatehouse.Client) {
	t.Helper()
	if d := clientDiff(got, want); len(d) > 0 {
		t.Errorf("%s: client %q differs:\n\t%s", what, want.ID, strings.Join(d, "\n\t"))
	}
}

func clientDiff(got, want gatehouse.Client) []string {
	var d []string
	str := func(field, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %q, want %q", field, g, w))
		}
	}
	str("ID", got.ID, want.ID)
	str("TenantID", got.TenantID, want.TenantID)
	str("AuthMethod", string(got.AuthMethod), string(want.AuthMethod))
	str("Role", string(got.Role), string(want.Role))
	str("Status", string(got.Status), string(want.Status))
	str("CreatedBy", got.CreatedBy, want.CreatedBy)
	str("LastAccessFromIP", got.LastAccessFromIP, want.LastAccessFromIP)
	if !bytes.Equal(got.Data, want.Data) {
		d = append(d, fmt.Sprintf("Data = %q, want %q", got.Data, want.Data))
	}
	if !bytes.Equal(got.SecretHash, want.SecretHash) {
		d = append(d, fmt.Sprintf("SecretHash = %x, want %x", got.SecretHash, want.SecretHash))
	}
	if got.Generation != want.Generation {
		d = append(d, fmt.Sprintf("Generation = %d, want %d", got.Generation, want.Generation))
	}
	d = append(d, timeDiff("CreatedAt", got.CreatedAt, want.CreatedAt)...)
	d = append(d, timeDiff("UpdatedAt", got.UpdatedAt, want.UpdatedAt)...)
	d = append(d, timeDiff("LastAccessAt", got.LastAccessAt, want.LastAccessAt)...)
	return d
}

func sameTenant(t *testing.T, what string, got, want gatehouse.Tenant) {
	t.Helper()
	var d []string
	if got.ID != want.ID || got.ParentID != want.ParentID || got.Name != want.Name ||
		got.Kind != want.Kind || got.Enabled != want.Enabled || got.Version != want.Version ||
		got.Generation != want.Generation {
		d = append(d, fmt.Sprintf("got %+v, want %+v", got, want))
	}
	d = append(d, timeDiff("CreatedAt", got.CreatedAt, want.CreatedAt)...)
	d = append(d, timeDiff("UpdatedAt", got.UpdatedAt, want.UpdatedAt)...)
	if len(d) > 0 {
		t.Errorf("%s: tenant %q differs:\n\t%s", what, want.ID, strings.Join(d, "\n\t"))
	}
}

func sameKey(t *testing.T, what string, got, want gatehouse.SigningKey) {
	t.Helper()
	var d []string
	if got.ID != want.ID || got.Algorithm != want.Algorithm {
		d = append(d, fmt.Sprintf("ID, Algorithm = %q, %q; want %q, %q", got.ID, got.Algorithm, want.ID, want.Algorithm))
	}
	if !bytes.Equal(got.PrivateKey, want.PrivateKey) {
		// Test keys only, but print lengths anyway: the habit matters.
		d = append(d, fmt.Sprintf("PrivateKey differs (%d bytes, want %d)", len(got.PrivateKey), len(want.PrivateKey)))
	}
	d = append(d, timeDiff("CreatedAt", got.CreatedAt, want.CreatedAt)...)
	d = append(d, timeDiff("ActiveAt", got.ActiveAt, want.ActiveAt)...)
	d = append(d, timeDiff("RetireAt", got.RetireAt, want.RetireAt)...)
	if len(d) > 0 {
		t.Errorf("%s: signing key %q differs:\n\t%s", what, want.ID, strings.Join(d, "\n\t"))
	}
}

// timeDiff compares instants, and requires a stored non-zero time to come
// back in UTC: callers format these times into API responses and logs, where
// the server's local zone must not leak in.
func timeDiff(field string, got, want time.Time) []string {
	switch {
	case want.IsZero() && !got.IsZero():
		return []string{fmt.Sprintf("%s = %v, want the zero time", field, got)}
	case !got.Equal(want):
		return []string{fmt.Sprintf("%s = %v, want %v", field, got, want.UTC())}
	case !got.IsZero() && got.Location() != time.UTC:
		return []string{fmt.Sprintf("%s is in zone %v, want UTC", field, got.Location())}
	}
	return nil
}

// finishes runs fn and fails t if it has not returned within d, so a store
// that deadlocks fails the subtest instead of hanging the whole test binary
// until its global timeout.
func finishes(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}
