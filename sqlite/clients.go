package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

const clientColumns = `id, tenant_id, auth_method, role, status, data, secret_hash, generation,
	created_at, created_by, updated_at, last_access_at, last_access_from_ip`

type rowScanner interface{ Scan(dest ...any) error }

func scanClient(row rowScanner) (gatehouse.Client, error) {
	var (
		c                        gatehouse.Client
		data, ip                 sql.NullString
		created, updated         int64
		lastAccess               sql.NullInt64
		authMethod, role, status string
	)
	err := row.Scan(&c.ID, &c.TenantID, &authMethod, &role, &status, &data, &c.SecretHash,
		&c.Generation, &created, &c.CreatedBy, &updated, &lastAccess, &ip)
	if err != nil {
		return gatehouse.Client{}, err
	}
	c.AuthMethod = gatehouse.AuthMethod(authMethod)
	c.Role = gatehouse.Role(role)
	c.Status = gatehouse.ClientStatus(status)
	if data.Valid {
		c.Data = json.RawMessage(data.String)
	}
	if len(c.SecretHash) == 0 {
		c.SecretHash = nil
	}
	c.CreatedAt = fromMicros(created)
	c.UpdatedAt = fromMicros(updated)
	c.LastAccessAt = fromNullMicros(lastAccess)
	c.LastAccessFromIP = ip.String
	return c, nil
}

// validData rejects Data that is not JSON before it reaches the database,
// which would store any text. It returns ErrInvalid; the data itself stays
// out of the message.
func validData(c gatehouse.Client, op string) error {
	if len(c.Data) > 0 && !json.Valid(c.Data) {
		return fmt.Errorf("sqlite: %s: client %q: data is not valid JSON: %w", op, c.ID, gatehouse.ErrInvalid)
	}
	return nil
}

func insertClient(ctx context.Context, tx *sql.Tx, c gatehouse.Client) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO clients (`+clientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.TenantID, string(c.AuthMethod), string(c.Role), string(c.Status),
		nullString(string(c.Data)), nullBytes(c.SecretHash), c.Generation,
		micros(c.CreatedAt), c.CreatedBy, micros(c.UpdatedAt),
		nullMicros(c.LastAccessAt), nullString(c.LastAccessFromIP))
	return err
}

// CreateClient stores a new client, and audit. It
// fails with ErrConflict if the ID is taken, was taken by a client since
// deleted, or the tenant does not exist.
func (s *Store) CreateClient(ctx context.Context, c gatehouse.Client, audit gatehouse.AuditEntry) error {
	op := fmt.Sprintf("create client %q", c.ID)
	if err := validData(c, "create client"); err != nil {
		return err
	}
	return s.change(ctx, op, audit, func(tx *sql.Tx) error {
		return wrap(insertClient(ctx, tx, c), op)
	})
}

// GetClient returns the client with the given id, or ErrNotFound.
func (s *Store) GetClient(ctx context.Context, id string) (gatehouse.Client, error) {
	c, err := scanClient(s.getClient.QueryRowContext(ctx, id))
	if err != nil {
		return gatehouse.Client{}, wrap(err, fmt.Sprintf("get client %q", id))
	}
	return c, nil
}

// ListClients returns one page of a tenant's clients in ascending ID order
// (bytewise, SQLite's BINARY collation), starting after f.After.
func (s *Store) ListClients(ctx context.Context, f gatehouse.ClientFilter) ([]gatehouse.Client, error) {
	if f.TenantID == "" {
		// Without a tenant the query would have to span every tenant; refuse
		// rather than risk handing one tenant's clients to another.
		return nil, fmt.Errorf("sqlite: list clients: tenant id is required: %w", gatehouse.ErrInvalid)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = gatehouse.DefaultPageSize
	case limit > gatehouse.MaxListRows:
		limit = gatehouse.MaxListRows
	}
	// SQLite's lower() folds ASCII letters only: the contract exactly.
	rows, err := s.r.QueryContext(ctx, `
		SELECT `+clientColumns+` FROM clients
		WHERE tenant_id = ?1 AND id > ?2
		  AND (?3 = '' OR instr(lower(id), lower(?3)) > 0
		       OR instr(lower(coalesce(json_extract(data, '$.client_name'), '')), lower(?3)) > 0)
		ORDER BY id
		LIMIT ?4`, f.TenantID, f.After, f.Text, limit)
	if err != nil {
		return nil, wrap(err, "list clients")
	}
	defer rows.Close()
	out := make([]gatehouse.Client, 0, min(limit, 64))
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, wrap(err, "list clients")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list clients")
	}
	return out, nil
}

// UpdateClient reads the client, applies fn and writes the result, and
// audit, all in one IMMEDIATE transaction: no other write
// can come between the read and the write, so concurrent read-modify-write
// cycles cannot lose an update. When fn fails, nothing is written, the audit
// entry included.
//
// fn cannot move a client or rewrite its history: the stored ID, TenantID,
// CreatedAt and CreatedBy are kept whatever fn returns. Nor can it touch the
// last access, which belongs to RecordAccess. fn runs while the database's
// write lock is held, so it must be quick and must not write to this store.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(gatehouse.Client) (gatehouse.Client, error), audit gatehouse.AuditEntry) (gatehouse.Client, error) {
	op := fmt.Sprintf("update client %q", id)
	var updated gatehouse.Client
	err := s.change(ctx, op, audit, func(tx *sql.Tx) error {
		cur, err := scanClient(tx.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = ?`, id))
		if err != nil {
			return wrap(err, op)
		}
		next, err := fn(cur)
		if err != nil {
			return err // the caller's own error, unchanged
		}
		if err := validData(next, "update client"); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `
			UPDATE clients SET
				auth_method = ?, role = ?, status = ?, data = ?, secret_hash = ?,
				generation = ?, updated_at = ?
			WHERE id = ?`,
			string(next.AuthMethod), string(next.Role), string(next.Status),
			nullString(string(next.Data)), nullBytes(next.SecretHash),
			next.Generation, micros(next.UpdatedAt), id)
		if err != nil {
			return wrap(err, op)
		}
		// Read back rather than patch next in Go, so the caller gets exactly
		// what GetClient will return (UTC, microseconds, kept fields).
		updated, err = scanClient(tx.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = ?`, id))
		return wrap(err, op)
	})
	if err != nil {
		return gatehouse.Client{}, err
	}
	return updated, nil
}

// DeleteClient removes the client and leaves a tombstone, so its ID is never
// issued again, and records audit. It fails with
// ErrNotFound if there is no such client.
func (s *Store) DeleteClient(ctx context.Context, id string, audit gatehouse.AuditEntry) error {
	op := fmt.Sprintf("delete client %q", id)
	return s.change(ctx, op, audit, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
		if err != nil {
			return wrap(err, op)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, op)
		}
		if n == 0 {
			return wrap(sql.ErrNoRows, op)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO client_tombstones (id, deleted_at) VALUES (?, ?)`,
			id, micros(time.Now()))
		return wrap(err, op)
	})
}

// RecordAccess stores the latest access of each client in one transaction.
// The WHERE clause makes each update conditional on being newer, so the batch
// may hold several entries for one client in any order, and a batch that
// arrives late cannot roll a newer access back. Entries for unknown (or
// deleted) clients match no row and are skipped.
func (s *Store) RecordAccess(ctx context.Context, accesses []gatehouse.ClientAccess) error {
	if len(accesses) == 0 {
		return nil
	}
	const op = "record access"
	return s.write(ctx, op, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `
			UPDATE clients SET last_access_at = ?1, last_access_from_ip = ?2
			WHERE id = ?3 AND (last_access_at IS NULL OR last_access_at < ?1)`)
		if err != nil {
			return wrap(err, op)
		}
		defer stmt.Close()
		for _, a := range accesses {
			if a.At.IsZero() {
				continue // "no time" cannot be newer than anything
			}
			if _, err := stmt.ExecContext(ctx, micros(a.At), nullString(a.FromIP), a.ClientID); err != nil {
				return wrap(err, op)
			}
		}
		return nil
	})
}
