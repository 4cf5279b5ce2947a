package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse"
)

const clientColumns = `id, tenant_id, auth_method, role, status, data, secret_hash, generation,
	created_at, created_by, updated_at, last_access_at, last_access_from_ip`

func scanClient(row pgx.Row) (gatehouse.Client, error) {
	var (
		c                        gatehouse.Client
		data                     []byte
		ip                       *string
		created, updated         time.Time
		lastAccess               *time.Time
		authMethod, role, status string
	)
	// pgx copies json and bytea values into fresh slices, so the client
	// shares no memory with the connection's read buffer.
	err := row.Scan(&c.ID, &c.TenantID, &authMethod, &role, &status, &data, &c.SecretHash,
		&c.Generation, &created, &c.CreatedBy, &updated, &lastAccess, &ip)
	if err != nil {
		return gatehouse.Client{}, err
	}
	c.AuthMethod = gatehouse.AuthMethod(authMethod)
	c.Role = gatehouse.Role(role)
	c.Status = gatehouse.ClientStatus(status)
	if len(data) > 0 {
		c.Data = json.RawMessage(data)
	}
	if len(c.SecretHash) == 0 {
		c.SecretHash = nil
	}
	c.CreatedAt = created.UTC()
	c.UpdatedAt = updated.UTC()
	c.LastAccessAt = fromNullTime(lastAccess)
	c.LastAccessFromIP = fromNullString(ip)
	return c, nil
}

// validData rejects Data that is not JSON with ErrInvalid before it reaches
// the database, whose own error would be less clear. The data itself stays
// out of the message.
func validData(c gatehouse.Client, op string) error {
	if len(c.Data) > 0 && !json.Valid(c.Data) {
		return fmt.Errorf("postgres: %s: client %q: data is not valid JSON: %w", op, c.ID, gatehouse.ErrInvalid)
	}
	return nil
}

// nullJSON binds empty Data as NULL, and other Data as a string, which pgx
// sends to a json column verbatim (as it would a json.RawMessage; a string
// just says so more plainly than relying on the special case).
func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// execer is what both a pool and a transaction offer.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertClient(ctx context.Context, db execer, c gatehouse.Client) error {
	_, err := db.Exec(ctx, `
		INSERT INTO clients (`+clientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		c.ID, c.TenantID, string(c.AuthMethod), string(c.Role), string(c.Status),
		nullJSON(c.Data), nullBytes(c.SecretHash), c.Generation,
		c.CreatedAt, c.CreatedBy, c.UpdatedAt,
		nullTime(c.LastAccessAt), nullString(c.LastAccessFromIP))
	return err
}

// CreateClient stores a new client, and audit. It
// fails with ErrConflict if the ID is taken, was taken by a client since
// deleted, or the tenant does not exist. The insert is one statement, and
// the trigger that registers the ID runs inside it; only an audit entry
// calls for an explicit transaction (see change).
func (s *Store) CreateClient(ctx context.Context, c gatehouse.Client, audit gatehouse.AuditEntry) error {
	op := fmt.Sprintf("create client %q", c.ID)
	if err := validData(c, "create client"); err != nil {
		return err
	}
	return s.change(ctx, op, audit, func(db execer) error {
		return wrap(ctx, insertClient(ctx, db, c), op)
	})
}

// GetClient returns the client with the given id, or ErrNotFound.
func (s *Store) GetClient(ctx context.Context, id string) (gatehouse.Client, error) {
	op := fmt.Sprintf("get client %q", id)
	if !storable(id) {
		return gatehouse.Client{}, wrap(ctx, pgx.ErrNoRows, op)
	}
	c, err := scanClient(s.pool.QueryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1`, id))
	if err != nil {
		return gatehouse.Client{}, wrap(ctx, err, op)
	}
	return c, nil
}

const (
	asciiUpper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	asciiLower = "abcdefghijklmnopqrstuvwxyz"
)

// ListClients returns one page of a tenant's clients in ascending ID order
// (bytewise: the id column is COLLATE "C"), starting after f.After.
func (s *Store) ListClients(ctx context.Context, f gatehouse.ClientFilter) ([]gatehouse.Client, error) {
	const op = "list clients"
	if f.TenantID == "" {
		// Without a tenant the query would have to span every tenant; refuse
		// rather than risk handing one tenant's clients to another.
		return nil, fmt.Errorf("postgres: %s: tenant id is required: %w", op, gatehouse.ErrInvalid)
	}
	if !storable(f.After) {
		return nil, fmt.Errorf("postgres: %s: the cursor is not a possible client id: %w", op, gatehouse.ErrInvalid)
	}
	if !storable(f.TenantID) {
		return []gatehouse.Client{}, nil // no such tenant can exist
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = gatehouse.DefaultPageSize
	case limit > gatehouse.MaxListRows:
		limit = gatehouse.MaxListRows
	}
	if !storable(f.Text) && f.Text != "" {
		return []gatehouse.Client{}, nil // no id or name can contain it
	}
	// translate folds ASCII letters only, as the contract says, whatever
	// the database's collation would make of lower().
	rows, err := s.pool.Query(ctx, `
		SELECT `+clientColumns+` FROM clients
		WHERE tenant_id = $1 AND id > $2
		  AND ($3 = '' OR strpos(translate(id, $5, $6), translate($3, $5, $6)) > 0
		       OR strpos(translate(coalesce(data->>'client_name', ''), $5, $6), translate($3, $5, $6)) > 0)
		ORDER BY id
		LIMIT $4`, f.TenantID, f.After, f.Text, limit, asciiUpper, asciiLower)
	if err != nil {
		return nil, wrap(ctx, err, op)
	}
	defer rows.Close()
	out := make([]gatehouse.Client, 0, min(limit, 64))
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, wrap(ctx, err, op)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, err, op)
	}
	return out, nil
}

// UpdateClient reads the client with SELECT ... FOR UPDATE, applies fn and
// writes the result, and audit, all in one
// transaction; when fn fails, nothing is written, the entry included. The
// row lock makes every other UpdateClient of this client, in this process or
// another replica, wait for the commit and then read the committed result,
// so concurrent read-modify-write cycles cannot lose an update.
//
// fn cannot move a client or rewrite its history: the stored ID, TenantID,
// CreatedAt and CreatedBy are kept whatever fn returns. Nor can it touch the
// last access, which belongs to RecordAccess: the UPDATE does not name those
// columns, so a RecordAccess that commits while fn runs is not undone. fn
// runs while the row lock and a pooled connection are held, so it must be
// quick and must not write to this store.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(gatehouse.Client) (gatehouse.Client, error), audit gatehouse.AuditEntry) (gatehouse.Client, error) {
	op := fmt.Sprintf("update client %q", id)
	if !storable(id) {
		return gatehouse.Client{}, wrap(ctx, pgx.ErrNoRows, op)
	}
	var updated gatehouse.Client
	err := s.audited(ctx, op, audit, func(tx pgx.Tx) error {
		cur, err := scanClient(tx.QueryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return wrap(ctx, err, op)
		}
		next, err := fn(cur)
		if err != nil {
			return err // the caller's own error, unchanged
		}
		if err := validData(next, "update client"); err != nil {
			return err
		}
		// RETURNING rather than patching next in Go, so the caller gets
		// exactly what GetClient will return (UTC, microseconds, kept
		// fields).
		updated, err = scanClient(tx.QueryRow(ctx, `
			UPDATE clients SET
				auth_method = $1, role = $2, status = $3, data = $4, secret_hash = $5,
				generation = $6, updated_at = $7
			WHERE id = $8
			RETURNING `+clientColumns,
			string(next.AuthMethod), string(next.Role), string(next.Status),
			nullJSON(next.Data), nullBytes(next.SecretHash),
			next.Generation, next.UpdatedAt, id))
		return wrap(ctx, err, op)
	})
	if err != nil {
		return gatehouse.Client{}, err
	}
	return updated, nil
}

// DeleteClient removes the client and marks its id deleted in the registry
// of ids, which keeps it from being issued again. One statement, so the two
// happen together; audit is recorded with them. It
// fails with ErrNotFound if there is no such client, and then records
// nothing.
func (s *Store) DeleteClient(ctx context.Context, id string, audit gatehouse.AuditEntry) error {
	op := fmt.Sprintf("delete client %q", id)
	if !storable(id) {
		return wrap(ctx, pgx.ErrNoRows, op)
	}
	return s.change(ctx, op, audit, func(db execer) error {
		tag, err := db.Exec(ctx, `
			WITH gone AS (DELETE FROM clients WHERE id = $1 RETURNING id)
			UPDATE client_ids SET deleted_at = now()
			FROM gone WHERE client_ids.id = gone.id`, id)
		if err != nil {
			return wrap(ctx, err, op)
		}
		if tag.RowsAffected() == 0 {
			return wrap(ctx, pgx.ErrNoRows, op)
		}
		return nil
	})
}

// RecordAccess stores the latest access of each client in one transaction,
// sent as one batch (one round trip). Each update is conditional on being
// newer, so the batch may hold several entries for one client in any order,
// and a batch that arrives late cannot roll a newer access back. Entries for
// unknown (or deleted) clients match no row and are skipped.
//
// The entries are applied in client ID order, so two replicas recording
// overlapping batches lock the rows in the same order and cannot deadlock.
// The sort is stable: entries for one client keep their order, so of two
// accesses at the same instant the first one stays, as in the SQLite store.
func (s *Store) RecordAccess(ctx context.Context, accesses []gatehouse.ClientAccess) error {
	const op = "record access"
	todo := make([]gatehouse.ClientAccess, 0, len(accesses))
	for _, a := range accesses {
		// "No time" cannot be newer than anything, and an id that cannot
		// be stored names no client.
		if !a.At.IsZero() && storable(a.ClientID) {
			todo = append(todo, a)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	slices.SortStableFunc(todo, func(a, b gatehouse.ClientAccess) int { return cmp.Compare(a.ClientID, b.ClientID) })
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, a := range todo {
			b.Queue(`
				UPDATE clients SET last_access_at = $1, last_access_from_ip = $2
				WHERE id = $3 AND (last_access_at IS NULL OR last_access_at < $1)`,
				a.At, nullString(a.FromIP), a.ClientID)
		}
		return wrap(ctx, tx.SendBatch(ctx, &b).Close(), op)
	})
}
