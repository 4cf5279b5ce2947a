// Package postgres is the scale-out storage backend of Gatehouse: a
// gatehouse.Store on one PostgreSQL database that any number of stateless
// replicas share, through a pgx connection pool.
//
// Its semantics are those of the SQLite store, pinned down by the storetest
// conformance suite: byte-exact JSON, UTC times at microsecond precision,
// bytewise (COLLATE "C") ID order, client IDs that are never reused, and
// read-modify-write updates that cannot lose an update. What SQLite gets
// from its single writer, this store gets from row locks, table locks for
// Bootstrap and UpdateSigningKeys, and a unique registry of client IDs, so
// that it holds across processes as well as within one.
//
// The schema lives in the first schema of the connection's search_path, so
// one database can hold several independent stores (the tests use a schema
// per test); an ordinary DSN uses "public".
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/gatehouse-dev/gatehouse"
)

//go:embed migrations/*.sql
var migrations embed.FS

// defaultConnectTimeout bounds one connection attempt when the DSN does not
// set connect_timeout. Without it a dial to a host that drops packets would
// wait for the kernel's TCP timeout, minutes, before the pool gave up on it.
const defaultConnectTimeout = 5 * time.Second

// cancelDeadlineDelay is how long a query whose context has ended may wait
// for the server to honor the cancel request before the connection is cut.
// The caller waits that long at most, on top of its own deadline, when the
// server cannot be reached: short, so that a replica cut off from its
// database still answers 503 promptly.
const cancelDeadlineDelay = 500 * time.Millisecond

// Store is a gatehouse.Store on a PostgreSQL database. It is safe for
// concurrent use, and any number of Stores, in any number of processes, may
// share one database.
type Store struct {
	pool *pgxpool.Pool

	closeOnce sync.Once
	closed    chan struct{} // closed by Close; stops WatchChanges
}

var _ gatehouse.Store = (*Store)(nil)

// OpenOptions adjust OpenWithOptions.
type OpenOptions struct {
	// SkipMigrate opens the store without applying pending migrations, for
	// callers that migrate explicitly (gatehouse migrate) or must not change
	// the schema. The store fails at its first query if the schema is not
	// there yet.
	SkipMigrate bool
}

// Open connects to the database named by dsn (a postgres:// URL or a
// keyword/value string, as libpq and pgx accept) and migrates it to the
// current schema. Several replicas may open one database at once: the
// migrations are serialized by an advisory lock.
//
// The DSN's pool settings (pool_max_conns, ...) apply; a DSN without
// connect_timeout (or with 0, which would mean "wait forever") gets 5s.
// The schema is the first existing schema of the search_path, which a DSN
// can set as a parameter: ...&search_path=gatehouse.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return OpenWithOptions(ctx, dsn, OpenOptions{})
}

// OpenWithOptions is Open with options. Failing to reach the database
// returns an error wrapping gatehouse.ErrUnavailable, so a caller can tell
// "try again later" from a bad DSN (gatehouse.ErrInvalid) or a broken schema.
func OpenWithOptions(ctx context.Context, dsn string, opts OpenOptions) (*Store, error) {
	if dsn == "" {
		return nil, fmt.Errorf("postgres: open: empty DSN: %w", gatehouse.ErrInvalid)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx masks the password in its message only on a best-effort
		// basis, and a DSN that fails to parse is exactly the one it may
		// misread, so the message stays out.
		return nil, fmt.Errorf("postgres: open: the DSN cannot be parsed (details withheld, the DSN may hold a password): %w", gatehouse.ErrInvalid)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	// When a caller's context ends mid-query, ask the server to cancel the
	// query (a cancel request) instead of pgx's default of cutting the
	// connection at once. A writer waiting for a row lock then gives up on
	// the server too, instead of leaving a backend queued for the lock until
	// the holder finishes, and the connection stays usable. If the server
	// does not answer within cancelDeadlineDelay, the connection is cut
	// anyway, so an unreachable server cannot hold a caller. (pgx also
	// waits 100ms after a cancel request, so that the request cannot hit
	// the connection's next query.)
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelDeadlineDelay}
	}
	// pgxpool already pings a connection that sat idle for over a second
	// before handing it out, and replaces it if the ping fails: after a
	// database restart, stale connections are weeded out that way rather
	// than failing a caller's query.
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, wrap(ctx, err, "open")
	}
	s := &Store{pool: pool, closed: make(chan struct{})}
	if !opts.SkipMigrate {
		if err := s.Migrate(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return s, nil
}

// Migrate applies every pending migration from migrations/. OpenWithOptions
// calls it unless told not to; it is a no-op on an up-to-date database.
//
// Replicas starting together on a fresh database all find migrations
// pending. goose's Postgres session locker makes them take turns: each holds
// a session-level advisory lock while it migrates, and whoever comes second
// finds the work done. The key of the lock is derived from the schema, so
// stores in different schemas of one database do not wait for each other.
//
// The migration runs on connections of its own, closed when it ends: a
// session-level lock is released when its session ends, so even a failed
// unlock cannot leave the lock held by a connection parked in the pool.
func (s *Store) Migrate(ctx context.Context) error {
	const op = "migrate"
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	db := stdlib.OpenDB(*s.pool.Config().ConnConfig)
	defer db.Close()

	var schema sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return wrap(ctx, err, op)
	}
	if !schema.Valid {
		return fmt.Errorf("postgres: %s: no schema of the search_path exists: %w", op, gatehouse.ErrInvalid)
	}
	h := fnv.New64a()
	h.Write([]byte("gatehouse migrate\x00" + schema.String))
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(int64(h.Sum64())),
		// goose polls with pg_try_advisory_lock; one second is the shortest
		// period it allows. Give up after five minutes, which is long past
		// any migration of this schema.
		lock.WithLockTimeout(1, 300),
		lock.WithUnlockTimeout(1, 10),
	)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	// The global registry holds Go migrations registered by any package in
	// the binary; this schema is defined by its SQL files alone.
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithDisableGlobalRegistry(true),
		goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if _, err := p.Up(ctx); err != nil {
		if kind := wrap(ctx, err, op); errors.Is(kind, gatehouse.ErrUnavailable) {
			return kind
		}
		// goose's message names the migration that failed, which wrap
		// would drop; it holds DDL and server messages, never row data.
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	return nil
}

// Ping reports whether the database can be reached, through the pool, so a
// failure means queries would fail too.
func (s *Store) Ping(ctx context.Context) error {
	return wrap(ctx, s.pool.Ping(ctx), "ping")
}

// Heartbeat rewrites the heartbeat row: on a standby, or a primary that
// cannot extend its WAL, it fails.
func (s *Store) Heartbeat(ctx context.Context, at time.Time) error {
	const op = "heartbeat"
	_, err := s.pool.Exec(ctx, `
		INSERT INTO heartbeat (id, beat_at, padding) VALUES (1, $1, $2)
		ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at, padding = excluded.padding`,
		at.UTC(), make([]byte, gatehouse.HeartbeatSize))
	return wrap(ctx, err, op)
}

// Close stops WatchChanges and closes every connection of the pool,
// waiting for connections in use to be returned first.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.pool.Close()
	})
	return nil
}

// inTx runs fn in one transaction (READ COMMITTED) and commits it if fn
// succeeds. An error from fn is returned as it is, so fn wraps its own errors
// (and UpdateClient can hand back its caller's error unchanged); op labels
// only begin and commit failures.
//
// The deferred rollback also runs if fn panics (a caller's UpdateClient
// function, say), so a panic cannot strand a connection in the middle of a
// transaction, holding its row locks; after a commit it does nothing. A
// rollback under a context that has ended cannot reach the server; pgx then
// closes the connection, the server rolls back when it sees the connection
// go, and the pool replaces it.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrap(ctx, err, op)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	return wrap(ctx, tx.Commit(ctx), op)
}

// wrap turns a driver error into one that callers can classify with
// errors.Is. ctx is the context the failed call ran under; op names the
// operation for the message and must never contain secret material.
//
// Errors the server reports keep only their message and SQLSTATE, not the
// *pgconn.PgError itself: its Detail field can quote whole rows (a failed
// check constraint's "Failing row contains (...)" would include a secret
// hash), and a wrapped error is one errors.As away from a log line.
//
// When the caller's context has ended, that is what the error says, however
// the driver saw it (a statement canceled on the server, a connection cut):
// a deadline is ErrUnavailable, the database too slow to answer in time; a
// cancellation is the caller's own doing and no kind at all. Otherwise,
// everything that is not an answer from the server, ErrNoRows or a scan
// failure is the database being unreachable: refused or broken connections,
// timeouts, a closed pool. That errs toward ErrUnavailable, which the server
// turns into 503 and a retry, rather than toward an answer that could make a
// client drop good credentials.
func wrap(ctx context.Context, err error, op string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, gatehouse.ErrNotFound)
	}
	var pe *pgconn.PgError
	isPgErr := errors.As(err, &pe)
	if ctxErr := ctx.Err(); ctxErr != nil && (!isPgErr || pe.Code == "57014") { // 57014: query_canceled
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fmt.Errorf("postgres: %s: %w: %w", op, gatehouse.ErrUnavailable, ctxErr)
		}
		return fmt.Errorf("postgres: %s: %w", op, ctxErr)
	}
	if isPgErr {
		kind := classify(pe)
		if kind == nil {
			return fmt.Errorf("postgres: %s: %s (SQLSTATE %s)", op, pe.Message, pe.Code)
		}
		return fmt.Errorf("postgres: %s: %s (SQLSTATE %s): %w", op, reason(pe), pe.Code, kind)
	}
	var scanErr pgx.ScanArgError
	if errors.As(err, &scanErr) {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	return fmt.Errorf("postgres: %s: %w: %w", op, gatehouse.ErrUnavailable, err)
}

// classify maps a server error to a gatehouse error kind, or nil for errors
// that are nobody's fault but the code's (a syntax error, say).
func classify(pe *pgconn.PgError) error {
	switch code := pe.Code; {
	case code == "23505", code == "23503": // unique_violation, foreign_key_violation
		return gatehouse.ErrConflict
	case strings.HasPrefix(code, "22"): // data_exception: a value the column cannot hold
		return gatehouse.ErrInvalid
	case strings.HasPrefix(code, "08"), // connection_exception
		strings.HasPrefix(code, "53"),    // insufficient_resources (too many connections, ...)
		strings.HasPrefix(code, "57"),    // operator_intervention: shutdown, canceled query
		code == "40001", code == "40P01", // serialization_failure, deadlock_detected
		code == "55P03", // lock_not_available
		code == "25006": // read_only_sql_transaction: a standby after failover
		return gatehouse.ErrUnavailable
	}
	return nil
}

// reason says in a few words what a classified server error means.
func reason(pe *pgconn.PgError) string {
	switch {
	case pe.Code == "23505" && pe.ConstraintName == "client_ids_pkey":
		return "id is taken or was used before, and cannot be reused"
	case pe.Code == "23505":
		return "already exists"
	case pe.Code == "23503":
		return "refers to a missing row"
	}
	return pe.Message
}

// storable reports whether s can be stored in a text column at all:
// PostgreSQL text holds neither NUL bytes nor invalid UTF-8. So no stored ID
// can equal such a string, and lookups answer ErrNotFound without asking.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// Times are stored as timestamptz, which keeps microseconds: pgx truncates
// finer times when it encodes them, as time.UnixMicro does for the SQLite
// store. The zero time.Time is stored as NULL where the column allows it; in
// NOT NULL columns it is stored as 0001-01-01 UTC, which comes back as the
// zero time.

// nullTime binds the zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// nullBytes binds an empty slice as NULL, so nil and empty both read back as
// nil.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nullString binds "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func fromNullString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
