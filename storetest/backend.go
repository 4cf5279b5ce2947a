package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// RunBackendChecks runs the checks that are not part of Run, because they
// ask for what the Store contract leaves to a backend (how it locks, how
// it validates), and that both SQL backends promise: each on a fresh store
// from newStore, bootstrapped with FixtureRoot and FixtureAdmin.
func RunBackendChecks(t *testing.T, newStore func(t *testing.T) gatehouse.Store) {
	t.Helper()
	for _, tc := range []test{
		{"ReadsDoNotWaitForWriter", func(t *testing.T, s gatehouse.Store) { readsDoNotWaitForWriter(t, s, FixtureAdmin) }},
		{"ErrorsDoNotCarrySecrets", func(t *testing.T, s gatehouse.Store) { errorsDoNotCarrySecrets(t, s, FixtureAdmin) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			if _, err := s.Bootstrap(t.Context(), FixtureRoot, FixtureAdmin); err != nil {
				t.Fatal(err)
			}
			tc.run(t, s)
		})
	}
}

// readsDoNotWaitForWriter checks that GetClient answers, with the committed
// row, while an UpdateClient of c, a client the store holds, is still
// running its function.
func readsDoNotWaitForWriter(t *testing.T, s gatehouse.Store, c gatehouse.Client) {
	t.Helper()
	ctx := t.Context()
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := s.UpdateClient(ctx, c.ID, func(c gatehouse.Client) (gatehouse.Client, error) {
			close(entered)
			<-release
			c.Generation++
			return c, nil
		}, gatehouse.NoAudit)
		done <- err
	}()
	select {
	case <-entered:
	case err := <-done:
		t.Fatalf("UpdateClient returned before calling its function: %v", err)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	got, err := s.GetClient(rctx, c.ID)
	close(release)
	if err != nil {
		t.Fatalf("GetClient while an update of the row is open: %v", err)
	}
	if got.Generation != c.Generation {
		t.Errorf("reader saw Generation %d of an uncommitted update", got.Generation)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// errorsDoNotCarrySecrets checks that refused client writes do not quote
// what they were given, for a client c the store holds: a duplicate's secret hash (ErrConflict), a client's
// data that is not JSON (ErrInvalid).
func errorsDoNotCarrySecrets(t *testing.T, s gatehouse.Store, c gatehouse.Client) {
	t.Helper()
	ctx := t.Context()
	dup := c
	dup.SecretHash = []byte("SECRET-HASH-MARKER")
	err := s.CreateClient(ctx, dup, gatehouse.NoAudit)
	if !errors.Is(err, gatehouse.ErrConflict) || strings.Contains(err.Error(), "MARKER") {
		t.Errorf("CreateClient(duplicate) error = %v; want ErrConflict without the hash", err)
	}
	bad := c
	bad.ID = "bad-json"
	bad.Data = json.RawMessage(`{"client_name": SECRET-MARKER`)
	err = s.CreateClient(ctx, bad, gatehouse.NoAudit)
	if !errors.Is(err, gatehouse.ErrInvalid) || strings.Contains(err.Error(), "MARKER") {
		t.Errorf("CreateClient(invalid JSON) error = %v; want ErrInvalid without the data", err)
	}
}

// Fixtures for a backend's own tests: a root tenant and its admin client,
// as Bootstrap takes them, and a signing key.
var (
	FixtureRoot = gatehouse.Tenant{ID: "root", Name: "Root", Kind: "root", Enabled: true, Version: 1,
		CreatedAt: time.Unix(1700000000, 0), UpdatedAt: time.Unix(1700000000, 0)}
	FixtureAdmin = gatehouse.Client{ID: "admin", TenantID: "root", AuthMethod: gatehouse.AuthSecretBasic,
		Role: gatehouse.RoleTenantAdmin, Status: gatehouse.StatusEnabled, Data: json.RawMessage(`{"client_name":"Admin"}`),
		SecretHash: []byte("hash"), Generation: 1, CreatedAt: time.Unix(1700000000, 0), UpdatedAt: time.Unix(1700000000, 0)}
	FixtureKey = gatehouse.SigningKey{ID: "kid-1", Algorithm: "RS256", PrivateKey: []byte("der"),
		CreatedAt: time.Unix(1700000000, 0), ActiveAt: time.Unix(1700000000, 0)}
)

// Opened returns the store a backend's Open returned, closed (and the
// Close checked) when t ends; it fails t if Open did.
func Opened[S interface{ Close() error }](t testing.TB, s S, err error) S {
	t.Helper()
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// WriteBeforeReopen gives an empty store what KeptAfterReopen checks for
// once the backend has closed it and opened its database again:
// FixtureRoot with its admin, FixtureKey, and the admin deleted.
func WriteBeforeReopen(t *testing.T, s gatehouse.Store) {
	t.Helper()
	ctx := t.Context()
	if created, err := s.Bootstrap(ctx, FixtureRoot, FixtureAdmin); err != nil || !created {
		t.Fatalf("Bootstrap = %v, %v", created, err)
	}
	if err := s.UpdateSigningKeys(ctx, AddKeys(FixtureKey), gatehouse.NoAudit); err != nil {
		t.Fatalf("UpdateSigningKeys: %v", err)
	}
	if err := s.DeleteClient(ctx, FixtureAdmin.ID, gatehouse.NoAudit); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
}

// KeptAfterReopen checks that a store opened again on the database of
// WriteBeforeReopen kept it all: the tenant, the key, the bootstrap (so
// it is not done again) and the deleted client's tombstone.
func KeptAfterReopen(t *testing.T, s gatehouse.Store) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.GetTenant(ctx, FixtureRoot.ID); err != nil {
		t.Errorf("GetTenant after reopen: %v", err)
	}
	if keys, err := s.SigningKeys(ctx); err != nil || len(keys) != 1 || !bytes.Equal(keys[0].PrivateKey, FixtureKey.PrivateKey) {
		t.Errorf("SigningKeys after reopen = %+v, %v", keys, err)
	}
	if created, err := s.Bootstrap(ctx, FixtureRoot, FixtureAdmin); err != nil || created {
		t.Errorf("Bootstrap after reopen = %v, %v; want false, nil", created, err)
	}
	if err := s.CreateClient(ctx, FixtureAdmin, gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrConflict) {
		t.Errorf("re-creating a deleted client after reopen: error = %v, want ErrConflict", err)
	}
}
