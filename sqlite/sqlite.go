// Package sqlite is the single-node storage backend of Gatehouse: a
// gatehouse.Store on one SQLite file, through the pure-Go modernc.org/sqlite
// driver so the binary needs no cgo.
//
// Every acknowledged write is durable: the database runs in WAL mode with
// synchronous=FULL, so a commit has reached the disk before the call returns
// and survives a crash of the process or of the machine.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse-dev/gatehouse"
)

//go:embed migrations/*.sql
var migrations embed.FS

// busyTimeout is how long a statement waits for a lock held by another
// process (a second gatehouse, the CLI, a backup) before failing. Writers in
// this process do not meet each other there: they queue for the single write
// connection first.
const busyTimeout = 10 * time.Second

// Store is a gatehouse.Store on a SQLite file. It is safe for concurrent use.
//
// It keeps two pools on the one file. All writes go through a pool of exactly
// one connection, so writers in this process queue in Go, where a context
// deadline can cut the wait short, instead of polling SQLite's busy handler;
// and every write transaction begins IMMEDIATE, so the write lock is taken up
// front and a read-then-write transaction can never fail to upgrade its lock
// (SQLITE_BUSY mid-transaction) against another process. Reads go through a
// separate, read-only pool: in WAL mode they run concurrently with the writer
// and never wait for it, which keeps the token path fast while an admin writes.
type Store struct {
	w *sql.DB // exactly one connection; BEGIN IMMEDIATE
	r *sql.DB // query_only connections
	// getClient is prepared once: it runs for every token request whose
	// client is not cached, and parsing its SQL each time cost a third
	// of the lookup.
	getClient *sql.Stmt
}

var _ gatehouse.Store = (*Store)(nil)

// Open opens the database at path, creating it (and its parent directory) if
// it does not exist, and migrates it to the current schema.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("sqlite: open: empty path: %w", gatehouse.ErrInvalid)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// The file holds signing keys and secret hashes: only the owner may
	// enter the directory or read the file. SQLite gives its -wal and -shm
	// files the mode of the database file, so creating the file ourselves
	// with 0600 covers them too. An existing file keeps its mode: an operator
	// who loosened it did so on purpose.
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: open: create directory: %w", err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	common := url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeout.Milliseconds())},
		"_foreign_keys": {"on"},
		"_synchronous":  {"FULL"},
	}
	wq := cloneValues(common)
	wq.Set("_txlock", "immediate")
	rq := cloneValues(common)
	rq.Set("_query_only", "on")

	w, err := sql.Open("sqlite", fileURI(abs, wq))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	// The file is switched to WAL before any reader exists, so no reader
	// ever sees it in another mode.
	if err := enableWAL(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", markCorrupt(err))
	}

	r, err := sql.Open("sqlite", fileURI(abs, rq))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)

	s := &Store{w: w, r: r}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.getClient, err = r.PrepareContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = ?`); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open: prepare: %w", err)
	}
	return s, nil
}

// fileURI builds a SQLite URI for path. A URI rather than a plain name,
// because the driver cuts a plain name at its first '?', and URL escaping lets
// a path contain '?', '#' or '%' safely.
func fileURI(path string, q url.Values) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive path: file:///C:/...
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}
	return u.String() // file:///abs/path?...
}

// enableWAL switches the database file to WAL mode; the mode is stored in the
// file, so it holds for every later connection. Not done with the driver's
// _journal_mode DSN parameter, because switching needs an exclusive lock and
// SQLite reports SQLITE_BUSY at once, without its busy handler, when two
// connections (two processes opening a new file) try together. Here the
// loser retries; once the file is in WAL mode the statement changes nothing
// and succeeds.
func enableWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		var mode string
		err := db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("journal mode is %q, not wal", mode)
			}
			return nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// Migrate applies every pending migration from migrations/. Open calls it; it
// is exported for tools that want to migrate explicitly, and is a no-op on an
// up-to-date database.
func (s *Store) Migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	// Two processes opening a fresh database together (the server and the
	// CLI, say) both find a migration pending. The second one's transaction
	// waits for the first one's write lock, then fails on the tables the
	// first created. Each migration runs in one transaction, so the failed
	// one left nothing behind, and another pass finds it applied: a few
	// passes settle the race without a lock goose does not offer for SQLite.
	const attempts = 3
	for i := 1; ; i++ {
		// The global registry holds Go migrations registered by any package
		// in the binary; this schema is defined by its SQL files alone. A
		// fresh provider per pass, because a provider checks for its version
		// table only once.
		p, err := goose.NewProvider(goose.DialectSQLite3, s.w, fsys, goose.WithDisableGlobalRegistry(true))
		if err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		// Not p.Close: it would close s.w.
		_, err = p.Up(ctx)
		if err == nil {
			return nil
		}
		if i == attempts || ctx.Err() != nil {
			return fmt.Errorf("sqlite: migrate: %w", markCorrupt(err))
		}
	}
}

// Ping reports whether both pools can reach the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Heartbeat rewrites the heartbeat row through the write connection, in a
// transaction committed to disk as every change is.
func (s *Store) Heartbeat(ctx context.Context, at time.Time) error {
	const op = "heartbeat"
	return s.write(ctx, op, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO heartbeat (id, beat_at, padding) VALUES (1, ?, zeroblob(?))
			ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at, padding = excluded.padding`,
			micros(at), gatehouse.HeartbeatSize)
		return wrap(err, op)
	})
}

// integrityProblems bounds how many problems IntegrityCheck reports: the
// first few say enough to act on (restore from a backup).
const integrityProblems = 5

// IntegrityCheck runs PRAGMA quick_check, which reads every page of the
// file and checks the b-trees' structure (not that indexes match their
// tables, which integrity_check also does, at several times the cost). It
// reads through the write connection, the one that sees the file as the
// next write will. Ending ctx interrupts it.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	const op = "integrity check"
	rows, err := s.w.QueryContext(ctx, fmt.Sprintf(`PRAGMA quick_check(%d)`, integrityProblems))
	if err != nil {
		return wrap(err, op)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return wrap(err, op)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return wrap(err, op)
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlite: %s: %w: %s", op, gatehouse.ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// Close closes the database. Closing the last connection checkpoints the WAL
// into the main file.
func (s *Store) Close() error {
	var err error
	if s.getClient != nil {
		err = s.getClient.Close()
	}
	return errors.Join(err, s.r.Close(), s.w.Close())
}

// write runs fn in one write transaction and commits it if fn succeeds. The
// transaction begins IMMEDIATE (see the _txlock DSN parameter). An error from
// fn is returned as it is, so fn wraps its own errors (and UpdateClient can
// hand back its caller's error unchanged); op labels only begin and commit
// failures.
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err, op)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return wrap(tx.Commit(), op)
}

// wrap turns a driver error into one that callers can classify with
// errors.Is. op names the operation for the message; it must never contain
// secret material. SQLite's own messages name tables and columns but never
// bound values, so they are safe to keep.
func wrap(err error, op string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, gatehouse.ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		if se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT {
			return fmt.Errorf("sqlite: %s: %s: %w", op, constraintReason(se.Code()), gatehouse.ErrConflict)
		}
		if isCorrupt(se) {
			return fmt.Errorf("sqlite: %s: %w: %w", op, gatehouse.ErrCorrupt, err)
		}
		if isBusy(err) {
			// Another process held the lock for the whole busy timeout.
			return fmt.Errorf("sqlite: %s: %w: %w", op, gatehouse.ErrUnavailable, err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

func isCorrupt(se *sqlite.Error) bool {
	code := se.Code() & 0xff
	return code == sqlite3.SQLITE_CORRUPT || code == sqlite3.SQLITE_NOTADB
}

// markCorrupt marks an error of a damaged file with gatehouse.ErrCorrupt.
func markCorrupt(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && isCorrupt(se) {
		return fmt.Errorf("%w: %w", gatehouse.ErrCorrupt, err)
	}
	return err
}

func constraintReason(code int) string {
	switch code {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return "already exists"
	case sqlite3.SQLITE_CONSTRAINT_TRIGGER:
		return "id was used before and cannot be reused"
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return "refers to a missing row"
	default:
		return "constraint violated"
	}
}

// Times are stored as INTEGER Unix microseconds, UTC. The zero time.Time is
// stored as NULL where the column allows it, and otherwise round-trips
// through its own (negative) microsecond count back to a zero time.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMicros(n.Int64)
}

// nullBytes binds an empty slice as NULL, so nil and empty both read back as
// nil rather than depending on how the driver binds a nil slice.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}
