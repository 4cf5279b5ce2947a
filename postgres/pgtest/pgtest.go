// Package pgtest gives tests a PostgreSQL database of their own, on the
// server named by the GATEHOUSE_TEST_POSTGRES environment variable. Tests
// that use it skip, saying how to enable them, when the variable is unset:
//
//	GATEHOUSE_TEST_POSTGRES=$(scripts/pg-test-cluster) go test ./...
//
// NewSchema is the cheap, common case: a fresh, empty schema on the shared
// server, dropped when the test ends. StartCluster starts a private server,
// for tests that stop and restart the database: stopping the shared one
// would break every other package's tests that `go test ./...` runs in
// parallel.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the environment variable holding the DSN of the PostgreSQL
// server that tests may use.
const EnvVar = "GATEHOUSE_TEST_POSTGRES"

// SkipMessage is what tests say when EnvVar is unset.
const SkipMessage = "set " + EnvVar + " to a PostgreSQL DSN to run these tests, e.g. " +
	EnvVar + "=$(scripts/pg-test-cluster)"

// DSN returns the server's DSN from EnvVar, or skips t if it is unset.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvVar)
	if dsn == "" {
		t.Skip(SkipMessage)
	}
	return dsn
}

// NewSchema creates a fresh schema on the server named by EnvVar and
// returns a DSN whose search_path is that schema alone, so a store opened
// with it creates its tables, and goose its version table, there. The schema
// is dropped, with everything in it, when t ends; close stores opened on it
// first (register their Close with t.Cleanup after calling NewSchema, and
// the cleanups run in that order). It skips t if EnvVar is unset.
func NewSchema(t testing.TB) string {
	t.Helper()
	base := DSN(t)
	schema := "gh_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", EnvVar, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	dsn, err := WithSearchPath(base, schema)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// WithSearchPath returns dsn with its search_path set to schema. pgx sends
// parameters it does not know itself to the server as run-time settings, in
// the startup message, so every connection of a pool starts in schema.
func WithSearchPath(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("%s is not a valid URL", EnvVar)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	// A keyword/value string: a later keyword overrides an earlier one.
	return dsn + " search_path=" + schema, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Cluster is a private PostgreSQL server started by scripts/pg-test-cluster.
type Cluster struct {
	DSN    string // postgres://gatehouse@127.0.0.1:PORT/gatehouse?sslmode=disable
	Dir    string // the cluster directory (data, socket, log)
	script string
}

// StartCluster starts a private server for t and deletes it when t ends.
// It takes a second or two (initdb), so use it only for tests that need to
// stop the database; the rest should use NewSchema. It skips t if EnvVar is
// unset: that variable is what says PostgreSQL tests are wanted and a server
// is installed.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	DSN(t)
	c := &Cluster{script: scriptPath(t)}
	var stderr strings.Builder
	cmd := exec.Command(c.script, "start")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pgtest: %s start: %v\n%s", c.script, err, stderr.String())
	}
	c.DSN = strings.TrimSpace(string(out))
	dir, err := exec.Command(c.script, "dir", c.DSN).Output()
	if err != nil {
		t.Fatalf("pgtest: %s dir: %v", c.script, err)
	}
	c.Dir = strings.TrimSpace(string(dir))
	t.Cleanup(func() {
		if out, err := exec.Command(c.script, "stop", c.Dir).CombinedOutput(); err != nil {
			t.Errorf("pgtest: stop cluster %s: %v\n%s", c.Dir, err, out)
		}
	})
	return c
}

// Stop shuts the server down and keeps its data: "fast" closes connections
// cleanly, "immediate" is a crash, recovered from the WAL on Start.
func (c *Cluster) Stop(t testing.TB, mode string) {
	t.Helper()
	if out, err := exec.Command(c.script, "pause", c.Dir, mode).CombinedOutput(); err != nil {
		t.Fatalf("pgtest: stop cluster: %v\n%s", err, out)
	}
}

// Start starts a stopped server again, on the same port with the same
// data, and returns once it accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	if out, err := exec.Command(c.script, "resume", c.Dir).CombinedOutput(); err != nil {
		t.Fatalf("pgtest: start cluster: %v\n%s", err, out)
	}
}

// scriptPath finds scripts/pg-test-cluster above the working directory: go
// test runs a test binary in its package's directory, inside the module.
func scriptPath(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	for {
		p := filepath.Join(dir, "scripts", "pg-test-cluster")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("pgtest: scripts/pg-test-cluster not found above the working directory")
		}
		dir = parent
	}
}
