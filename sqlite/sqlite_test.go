package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) gatehouse.Store {
		return openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	})
}

func openTemp(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	return storetest.Opened(t, s, err)
}

var testRoot, testAdmin, testKey = storetest.FixtureRoot, storetest.FixtureAdmin, storetest.FixtureKey

func TestReopenKeepsData(t *testing.T) {
	// Spaces and URI metacharacters in the path must not confuse the DSN.
	path := filepath.Join(t.TempDir(), "a dir?#%", "gatehouse.db")
	ctx := t.Context()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	storetest.WriteBeforeReopen(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database is not at the given path: %v", err)
	}

	s = openTemp(t, path)
	storetest.KeptAfterReopen(t, s)
	if err := s.Migrate(ctx); err != nil {
		t.Errorf("Migrate on a migrated database: %v", err)
	}
}

func TestPragmas(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	for _, pool := range []struct {
		name string
		db   *sql.DB
	}{{"writer", s.w}, {"reader", s.r}} {
		for _, p := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"synchronous", "2"}, // FULL
			{"foreign_keys", "1"},
			{"busy_timeout", "10000"},
		} {
			var got string
			if err := pool.db.QueryRowContext(t.Context(), "PRAGMA "+p.pragma).Scan(&got); err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", pool.name, p.pragma, err)
			}
			if got != p.want {
				t.Errorf("%s: PRAGMA %s = %s, want %s", pool.name, p.pragma, got, p.want)
			}
		}
	}
	var qo int
	if err := s.r.QueryRowContext(t.Context(), "PRAGMA query_only").Scan(&qo); err != nil || qo != 1 {
		t.Errorf("reader PRAGMA query_only = %d, %v; want 1", qo, err)
	}
}

func TestCreatesPrivateDirectoryAndFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	dir := filepath.Join(t.TempDir(), "new", "data")
	path := filepath.Join(dir, "gatehouse.db")
	openTemp(t, path)
	for _, p := range []struct {
		path string
		want os.FileMode
	}{{dir, 0o700}, {filepath.Dir(dir), 0o700}, {path, 0o600}, {path + "-wal", 0o600}} {
		fi, err := os.Stat(p.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != p.want {
			t.Errorf("%s has mode %v, want %v", p.path, got, p.want)
		}
	}
}

func TestBackendChecks(t *testing.T) {
	storetest.RunBackendChecks(t, func(t *testing.T) gatehouse.Store { return openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db")) })
}

// crashEnv names the database the crash helper writes to. Set only in the
// child process that TestAcknowledgedWriteSurvivesKill starts.
const crashEnv = "GATEHOUSE_SQLITE_CRASH_DB"

func TestAcknowledgedWriteSurvivesKill(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("running as the crash helper")
	}
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "acknowledged" {
				acked <- true
				return
			}
		}
		acked <- false
	}()
	select {
	case ok := <-acked:
		if !ok {
			t.Fatal("crash helper exited without acknowledging its write")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("crash helper did not acknowledge its write within 30s")
	}
	// SIGKILL on Unix: no deferred Close, no checkpoint, no flush.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s := openTemp(t, path)
	c, err := s.GetClient(t.Context(), "written-before-kill")
	if err != nil {
		t.Fatalf("acknowledged client lost after kill: %v", err)
	}
	if c.Generation != 42 {
		t.Errorf("Generation = %d, want 42", c.Generation)
	}
}

// TestCrashHelper is the child of TestAcknowledgedWriteSurvivesKill: it
// commits a write, says so, and waits to be killed.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("only runs as a child of TestAcknowledgedWriteSurvivesKill")
	}
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Bootstrap(ctx, testRoot, testAdmin); err != nil {
		t.Fatal(err)
	}
	c := testAdmin
	c.ID = "written-before-kill"
	c.Role = gatehouse.RoleNone
	c.Generation = 42
	if err := s.CreateClient(ctx, c, gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	fmt.Println("acknowledged")
	time.Sleep(time.Minute) // killed long before this ends
	t.Fatal("crash helper was not killed")
}

func TestConcurrentFirstOpen(t *testing.T) {
	// Separate Stores on one file stand in for separate processes (the
	// server and the CLI, say) starting together on a fresh database: each
	// must come up, however their migrations interleave.
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			s, err := Open(t.Context(), path)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
}
