package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/postgres/pgtest"
	"github.com/gatehouse-dev/gatehouse/storetest"
)

func TestStore(t *testing.T) {
	pgtest.DSN(t) // skip before the suite logs a skip per subtest
	storetest.Run(t, func(t *testing.T) gatehouse.Store {
		return openTest(t, pgtest.NewSchema(t))
	})
}

func openTest(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	return storetest.Opened(t, s, err)
}

var testRoot, testAdmin, testKey = storetest.FixtureRoot, storetest.FixtureAdmin, storetest.FixtureKey

func TestReopenKeepsData(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	ctx := t.Context()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	storetest.WriteBeforeReopen(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openTest(t, dsn)
	storetest.KeptAfterReopen(t, s)
	if err := s.Migrate(ctx); err != nil {
		t.Errorf("Migrate on a migrated database: %v", err)
	}
}

func TestSchemaStaysInSearchPath(t *testing.T) {
	// Everything, goose's version table included, must land in the schema
	// of the DSN's search_path, or stores in different schemas would share
	// (and fight over) a version table in public.
	dsn := pgtest.NewSchema(t)
	s := openTest(t, dsn)
	var schema string
	if err := s.pool.QueryRow(t.Context(), `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(schema, "gh_") {
		t.Fatalf("current_schema() = %q, want the test schema", schema)
	}
	var n int
	err := s.pool.QueryRow(t.Context(), `
		SELECT count(*) FROM information_schema.tables
		WHERE table_schema = $1
		  AND table_name IN ('goose_db_version', 'clients', 'client_ids', 'tenants', 'signing_keys', 'revocations')`,
		schema).Scan(&n)
	if err != nil || n != 6 {
		t.Errorf("the test schema holds %d of the 6 tables (%v)", n, err)
	}
}

func TestConcurrentFirstOpen(t *testing.T) {
	// Replicas starting together on a fresh database: each must come up,
	// and the migrations must run exactly once, under the advisory lock.
	dsn := pgtest.NewSchema(t)
	const n = 4
	var stores [n]*Store
	began := time.Now()
	errs := testkit.Race(n, func(i int) (err error) {
		stores[i], err = Open(t.Context(), dsn)
		return err
	})
	t.Logf("%d concurrent Opens took %v", n, time.Since(began).Round(time.Millisecond))
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if t.Failed() {
		return
	}
	var applied, distinct int
	err := stores[0].pool.QueryRow(t.Context(), `
		SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).
		Scan(&applied, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	// Counted from the embedded files, so that adding a migration does not
	// mean editing this test.
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if applied != distinct || applied != len(files) {
		t.Errorf("goose_db_version holds %d applications of %d versions, want each of the %d once", applied, distinct, len(files))
	}
	// And every store works.
	if created, err := stores[1].Bootstrap(t.Context(), testRoot, testAdmin); err != nil || !created {
		t.Fatalf("Bootstrap = %v, %v", created, err)
	}
	for i, s := range stores {
		if _, err := s.GetClient(t.Context(), testAdmin.ID); err != nil {
			t.Errorf("store %d: GetClient: %v", i, err)
		}
	}
}

// closedPort returns a local TCP address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	// Needs no server, but runs with the others, as it is about PostgreSQL.
	pgtest.DSN(t)
	dsn := fmt.Sprintf("postgres://gatehouse@%s/gatehouse?sslmode=disable&connect_timeout=1", closedPort(t))

	began := time.Now()
	_, err := Open(t.Context(), dsn)
	if !errors.Is(err, gatehouse.ErrUnavailable) {
		t.Errorf("Open (migrating) on a closed port: error = %v, want ErrUnavailable", err)
	}

	s, err := OpenWithOptions(t.Context(), dsn, OpenOptions{SkipMigrate: true})
	if err != nil {
		t.Fatalf("OpenWithOptions(SkipMigrate) on a closed port: %v; want a store that fails per call", err)
	}
	defer s.Close()
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Ping", s.Ping},
		{"GetClient", func(ctx context.Context) error { _, err := s.GetClient(ctx, "admin"); return err }},
		{"UpdateClient", func(ctx context.Context) error {
			_, err := s.UpdateClient(ctx, "admin", func(c gatehouse.Client) (gatehouse.Client, error) { return c, nil }, gatehouse.NoAudit)
			return err
		}},
		{"RecordAccess", func(ctx context.Context) error {
			return s.RecordAccess(ctx, []gatehouse.ClientAccess{{ClientID: "admin", At: time.Now()}})
		}},
	}
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := c.call(ctx)
		cancel()
		if !errors.Is(err, gatehouse.ErrUnavailable) {
			t.Errorf("%s on a closed port: error = %v, want ErrUnavailable", c.name, err)
		}
		if errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("%s on a closed port also claims ErrNotFound: %v", c.name, err)
		}
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("the failing calls took %v, want them prompt", d)
	}
}

func TestDeadlineIsUnavailable(t *testing.T) {
	// A caller's deadline running out while the database is slow must read
	// as ErrUnavailable (503), not as some other failure.
	s := openTest(t, pgtest.NewSchema(t))
	ctx := t.Context()
	if _, err := s.Bootstrap(ctx, testRoot, testAdmin); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := s.UpdateClient(ctx, testAdmin.ID, func(c gatehouse.Client) (gatehouse.Client, error) {
			close(entered)
			<-release
			return c, nil
		}, gatehouse.NoAudit)
		done <- err
	}()
	<-entered
	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err := s.UpdateClient(dctx, testAdmin.ID, func(c gatehouse.Client) (gatehouse.Client, error) { return c, nil }, gatehouse.NoAudit)
	close(release)
	if !errors.Is(err, gatehouse.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("UpdateClient past its deadline: error = %v, want ErrUnavailable from the deadline", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The canceled query left the pool healthy.
	if _, err := s.GetClient(ctx, testAdmin.ID); err != nil {
		t.Errorf("GetClient after a canceled update: %v", err)
	}
}

func TestInvalidDSN(t *testing.T) {
	_, err := Open(t.Context(), "postgres://u:hunter2@[::1/db")
	if !errors.Is(err, gatehouse.ErrInvalid) {
		t.Errorf("Open(malformed DSN) error = %v, want ErrInvalid", err)
	}
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error carries the password: %v", err)
	}
	if _, err := Open(t.Context(), ""); !errors.Is(err, gatehouse.ErrInvalid) {
		t.Errorf("Open(\"\") error = %v, want ErrInvalid", err)
	}
}

func TestBackendChecks(t *testing.T) {
	storetest.RunBackendChecks(t, func(t *testing.T) gatehouse.Store { return openTest(t, pgtest.NewSchema(t)) })
}

// The server's own refusals keep secrets out of errors too (see
// storetest.RunBackendChecks for the refusals every SQL backend makes).
func TestServerErrorsDoNotCarrySecrets(t *testing.T) {
	s := openTest(t, pgtest.NewSchema(t))
	ctx := t.Context()
	if _, err := s.Bootstrap(ctx, testRoot, testAdmin); err != nil {
		t.Fatal(err)
	}
	// A value the server itself rejects (text cannot hold NUL): the server's
	// detail, which may quote values, stays out too.
	nul := testAdmin
	nul.ID = "nul"
	nul.CreatedBy = "SECRET-MARKER\x00"
	err := s.CreateClient(ctx, nul, gatehouse.NoAudit)
	if !errors.Is(err, gatehouse.ErrInvalid) || strings.Contains(err.Error(), "MARKER") {
		t.Errorf("CreateClient(NUL in text) error = %v; want ErrInvalid without the value", err)
	}
	key := testKey
	key.PrivateKey = []byte("PRIVATE-KEY-MARKER")
	if err := s.UpdateSigningKeys(ctx, storetest.AddKeys(key), gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	err = s.UpdateSigningKeys(ctx, storetest.AddKeys(key), gatehouse.NoAudit)
	if !errors.Is(err, gatehouse.ErrConflict) || strings.Contains(err.Error(), "MARKER") {
		t.Errorf("UpdateSigningKeys(duplicate kid) error = %v; want ErrConflict without the key", err)
	}
}

func TestUnstorableIDsAreNotFound(t *testing.T) {
	// PostgreSQL text holds neither NUL nor invalid UTF-8, so no client can
	// have such an id: lookups say "not found", as the SQLite store would,
	// rather than failing.
	s := openTest(t, pgtest.NewSchema(t))
	ctx := t.Context()
	if _, err := s.Bootstrap(ctx, testRoot, testAdmin); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a\x00b", "\xff\xfe"} {
		if _, err := s.GetClient(ctx, id); !errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("GetClient(%q) error = %v, want ErrNotFound", id, err)
		}
		if _, err := s.GetTenant(ctx, id); !errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("GetTenant(%q) error = %v, want ErrNotFound", id, err)
		}
		if err := s.DeleteClient(ctx, id, gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("DeleteClient(%q) error = %v, want ErrNotFound", id, err)
		}
		if _, err := s.UpdateClient(ctx, id, func(c gatehouse.Client) (gatehouse.Client, error) { return c, nil }, gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrNotFound) {
			t.Errorf("UpdateClient(%q) error = %v, want ErrNotFound", id, err)
		}
		if err := s.RecordAccess(ctx, []gatehouse.ClientAccess{{ClientID: id, At: time.Now()}}); err != nil {
			t.Errorf("RecordAccess(%q): %v, want it skipped", id, err)
		}
		if l, err := s.ListClients(ctx, gatehouse.ClientFilter{TenantID: id}); err != nil || len(l) != 0 {
			t.Errorf("ListClients(tenant %q) = %d clients, %v; want none", id, len(l), err)
		}
		c := testAdmin
		c.ID = id
		if err := s.CreateClient(ctx, c, gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrInvalid) {
			t.Errorf("CreateClient(%q) error = %v, want ErrInvalid", id, err)
		}
	}
}

func TestSQLCannotReuseDeletedID(t *testing.T) {
	// The registry of ids holds even for writes that bypass the Go code.
	s := openTest(t, pgtest.NewSchema(t))
	ctx := t.Context()
	if _, err := s.Bootstrap(ctx, testRoot, testAdmin); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteClient(ctx, testAdmin.ID, gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO clients (id, tenant_id, auth_method, role, status, generation, created_at, created_by, updated_at)
		VALUES ($1, 'root', 'client_secret_basic', '', 'enabled', 1, now(), '', now())`, testAdmin.ID)
	if !errors.Is(wrap(ctx, err, "raw insert"), gatehouse.ErrConflict) {
		t.Errorf("raw INSERT of a deleted id: error = %v, want a unique violation", err)
	}
	var deletedAt *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT deleted_at FROM client_ids WHERE id = $1`, testAdmin.ID).Scan(&deletedAt); err != nil || deletedAt == nil {
		t.Errorf("client_ids.deleted_at = %v, %v; want the deletion time", deletedAt, err)
	}
}

func TestHealsAfterDatabaseRestart(t *testing.T) {
	// A private cluster, since stopping the shared one would break the
	// tests of every other package running in parallel.
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	c := pgtest.StartCluster(t)
	s := openTest(t, c.DSN)
	ctx := t.Context()
	if _, err := s.Bootstrap(ctx, testRoot, testAdmin); err != nil {
		t.Fatal(err)
	}
	changes := watch(t, s)
	expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeResync}, 10*time.Second)
	// Several pooled connections, so that stale ones are left after the
	// restart.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { s.GetClient(ctx, testAdmin.ID) })
	}
	wg.Wait()

	for i, mode := range []string{"fast", "immediate"} {
		c.Stop(t, mode)
		began := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.GetClient(pctx, testAdmin.ID)
		cancel()
		if !errors.Is(err, gatehouse.ErrUnavailable) {
			t.Errorf("%s stop: GetClient with the database down: error = %v, want ErrUnavailable", mode, err)
		}
		if d := time.Since(began); d > 5*time.Second {
			t.Errorf("%s stop: GetClient took %v to fail", mode, d)
		}
		t.Logf("%s stop: the change feed reported the loss after %v", mode,
			expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeLost}, 5*time.Second).Round(time.Millisecond))

		c.Start(t)
		// Let the pooled connections sit idle past pgxpool's one-second
		// ping threshold, as they would in a real outage.
		time.Sleep(1100 * time.Millisecond)
		began = time.Now()
		for {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = s.GetClient(pctx, testAdmin.ID)
			cancel()
			if err == nil || time.Since(began) > 15*time.Second {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("%s stop: GetClient after the restart: %v", mode, err)
		}
		t.Logf("%s stop: queries healed %v after the restart", mode, time.Since(began).Round(time.Millisecond))
		expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeResync}, 15*time.Second)

		// A write acknowledged after the restart is announced, and kept.
		id := fmt.Sprintf("after-restart-%d", i)
		cl := testAdmin
		cl.ID = id
		if err := s.CreateClient(ctx, cl, gatehouse.NoAudit); err != nil {
			t.Fatalf("CreateClient after the restart: %v", err)
		}
		expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeClient, ID: id}, 5*time.Second)
	}
	// The data survived both, including the crash.
	for _, id := range []string{testAdmin.ID, "after-restart-0", "after-restart-1"} {
		if _, err := s.GetClient(ctx, id); err != nil {
			t.Errorf("GetClient(%q) after the restarts: %v", id, err)
		}
	}
}

func TestZeroTimesRoundTrip(t *testing.T) {
	// NOT NULL time columns store the zero time.Time as 0001-01-01 UTC,
	// which must come back as the zero time, as in the SQLite store.
	s := openTest(t, pgtest.NewSchema(t))
	ctx := t.Context()
	root := testRoot
	root.CreatedAt, root.UpdatedAt = time.Time{}, time.Time{}
	admin := testAdmin
	admin.CreatedAt, admin.UpdatedAt = time.Time{}, time.Time{}
	if _, err := s.Bootstrap(ctx, root, admin); err != nil {
		t.Fatal(err)
	}
	gotT, err := s.GetTenant(ctx, root.ID)
	if err != nil || !gotT.CreatedAt.IsZero() || !gotT.UpdatedAt.IsZero() {
		t.Errorf("GetTenant = %+v, %v; want zero times", gotT, err)
	}
	gotC, err := s.GetClient(ctx, admin.ID)
	if err != nil || !gotC.CreatedAt.IsZero() || !gotC.UpdatedAt.IsZero() || !gotC.LastAccessAt.IsZero() {
		t.Errorf("GetClient = %+v, %v; want zero times", gotC, err)
	}
	key := testKey
	key.CreatedAt, key.ActiveAt = time.Time{}, time.Time{}
	if err := s.UpdateSigningKeys(ctx, storetest.AddKeys(key), gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	keys, err := s.SigningKeys(ctx)
	if err != nil || len(keys) != 1 || !keys[0].CreatedAt.IsZero() || !keys[0].ActiveAt.IsZero() || !keys[0].RetireAt.IsZero() {
		t.Errorf("SigningKeys = %+v, %v; want one key with zero times", keys, err)
	}
}

func TestPanicInUpdateReleasesTheRow(t *testing.T) {
	s := openTest(t, pgtest.NewSchema(t))
	ctx := t.Context()
	if _, err := s.Bootstrap(ctx, testRoot, testAdmin); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() { recover() }()
		s.UpdateClient(ctx, testAdmin.ID, func(c gatehouse.Client) (gatehouse.Client, error) { panic("boom") }, gatehouse.NoAudit)
	}()
	uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.UpdateClient(uctx, testAdmin.ID, func(c gatehouse.Client) (gatehouse.Client, error) {
		c.Generation++
		return c, nil
	}, gatehouse.NoAudit); err != nil {
		t.Errorf("UpdateClient after another one panicked: %v", err)
	}
}
