package datacenter_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/datacenter"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/keycrypt"
	"github.com/gatehouse-dev/gatehouse/postgres/pgtest"

	_ "modernc.org/sqlite" // the scratch table's writer
)

const dbFile = "gatehouse.db"

// runOnce starts and stops a data center in dir, so that dir holds what a
// data center that has run leaves: its store, generated master key and
// bootstrap credentials.
func runOnce(t *testing.T, dir string) {
	t.Helper()
	if err := run(t, localConfig(dir)).stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// A damaged SQLite file stops the start with a message that names the file
// and says what to do, rather than serving /readyz 200 on it: whether the
// damage is where opening the store reads (the schema) or only where the
// integrity check does (the pages of the last tables).
func TestRunRefusesADamagedStore(t *testing.T) {
	// Page 1 is the header, which SQLite rejects as not a database at all;
	// damage b-tree pages behind it instead, as a torn write or a failing
	// disk would.
	const page = 4096
	for _, tc := range []struct {
		name  string
		pages func(size int64) []int64 // offsets of the pages to damage
		via   string
		// scratch adds a table that only the integrity check reads, to
		// the end of the file.
		scratch bool
	}{
		{"every other page", func(size int64) []int64 {
			var offs []int64
			for off := int64(page); off+page <= size; off += 2 * page {
				offs = append(offs, off)
			}
			return offs
		}, "", false},
		{"a page that only the check reads", func(size int64) []int64 { return []int64{size - 8*page} }, "integrity check", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			runOnce(t, dir)
			path := filepath.Join(dir, dbFile)
			if tc.scratch {
				addScratchTable(t, path)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() < 4*page {
				t.Fatalf("the store is only %d bytes", fi.Size())
			}
			garbage := []byte(strings.Repeat("\xde\xad\xbe\xef", page/4))
			for _, off := range tc.pages(fi.Size()) {
				if _, err := f.WriteAt(garbage, off); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}

			err = datacenter.Run(context.Background(), localConfig(dir))
			if err == nil {
				t.Fatal("Run started on a damaged store")
			}
			for _, want := range []string{path, "damaged", "restore it from a backup", tc.via} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Run: %v\nwant it to say %q", err, want)
				}
			}
		})
	}
}

// addScratchTable appends a table of a few dozen pages to the SQLite file
// at path, checkpointed into the file itself.
func addScratchTable(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE scratch (b BLOB)`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 64) INSERT INTO scratch SELECT randomblob(3000) FROM n`,
		`PRAGMA wal_checkpoint(TRUNCATE)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// A data directory that has served (its master key and bootstrap
// credentials are there) does not silently start a new, empty data center
// when its database is missing or empty; --allow-new-store does, on
// purpose.
func TestRunRefusesAnEmptyStoreWhereOneRan(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(t *testing.T, path string)
	}{
		{"database deleted", func(t *testing.T, path string) {
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
			}
		}},
		{"database truncated to nothing", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			runOnce(t, dir)
			path := filepath.Join(dir, dbFile)
			tc.lose(t, path)
			before, _ := os.Stat(path)

			err := datacenter.Run(context.Background(), localConfig(dir))
			if err == nil {
				t.Fatal("Run bootstrapped a new data center beside the old one's master key")
			}
			for _, want := range []string{"--allow-new-store", keycrypt.DefaultFileName, datacenter.BootstrapFile} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Run: %v\nwant it to name %q", err, want)
				}
			}
			// Refused before anything was written: the directory is ready
			// for a restore.
			after, _ := os.Stat(path)
			if (before == nil) != (after == nil) || (after != nil && after.Size() != 0) {
				t.Errorf("the refused start changed %s: %v → %v", path, before, after)
			}

			cfg := localConfig(dir)
			cfg.AllowNewStore = true
			if err := run(t, cfg).stop(); err != nil {
				t.Fatalf("with AllowNewStore: %v", err)
			}
		})
	}
}

// A fresh directory, or a master key provided before the database exists,
// is a new deployment, not a lost database: it bootstraps.
func TestRunStartsANewDeployment(t *testing.T) {
	dir := t.TempDir()
	cfg := localConfig(dir)
	cfg.MasterKey = testMasterKey(t)
	if err := run(t, cfg).stop(); err != nil {
		t.Fatalf("a new deployment with its master key in the environment: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, datacenter.BootstrapFile)); err != nil {
		t.Errorf("no bootstrap credentials: %v", err)
	}
}

// /readyz proves the store can write, not only that it answers: with the
// disk full it fails, and it recovers once there is room again. The disk
// is a small tmpfs, which needs the privilege to mount one.
func TestReadyFailsWhenTheDiskIsFull(t *testing.T) {
	disk := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	// Registered before the data center's own cleanup, so it runs after
	// the data center has stopped.
	t.Cleanup(func() {
		if err := syscall.Unmount(disk, 0); err != nil {
			t.Errorf("unmount %s: %v", disk, err)
		}
	})
	dc := run(t, localConfig(filepath.Join(disk, "data")))
	ready := func() int {
		res, err := http.Get(dc.dc.URL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := ready(); got != http.StatusOK {
		t.Fatalf("/readyz = %d before the disk filled", got)
	}

	filler := filepath.Join(disk, "filler")
	fill(t, filler)
	testkit.Eventually(t, "/readyz fails with the disk full", 20*time.Second, func() bool {
		return ready() == http.StatusServiceUnavailable
	})

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "/readyz recovers once there is room", 20*time.Second, func() bool {
		return ready() == http.StatusOK
	})
	// The data center stops cleanly: it can write its last accesses again.
	if err := dc.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// fill writes path until the file system has no room left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

// The same on PostgreSQL: a data directory that has bootstrapped a data
// center refuses to bootstrap another on an empty database (a dropped or
// mistyped one), while a new deployment with its master key in the
// environment starts.
func TestRunRefusesAnEmptyPostgreSQLWhereOneRan(t *testing.T) {
	dir := t.TempDir()
	cfg := localConfig(dir)
	cfg.Database = pgtest.NewSchema(t)
	cfg.MasterKey = testMasterKey(t)
	if err := run(t, cfg).stop(); err != nil {
		t.Fatalf("a new deployment on PostgreSQL: %v", err)
	}

	cfg.Database = pgtest.NewSchema(t)
	err := datacenter.Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "--allow-new-store") || !strings.Contains(err.Error(), datacenter.BootstrapFile) {
		t.Fatalf("Run on an empty database beside %s: %v; want a refusal naming --allow-new-store", datacenter.BootstrapFile, err)
	}
	cfg.AllowNewStore = true
	if err := run(t, cfg).stop(); err != nil {
		t.Fatalf("with AllowNewStore: %v", err)
	}
}

func testMasterKey(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(key)
}
