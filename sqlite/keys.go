package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse"
)

const keyColumns = `kid, algorithm, private_key, created_at, active_at, retire_at`

// SigningKeys returns every stored key, oldest first; keys created in the same
// microsecond are ordered by kid so the order is stable.
func (s *Store) SigningKeys(ctx context.Context) ([]gatehouse.SigningKey, error) {
	const op = "signing keys"
	rows, err := s.r.QueryContext(ctx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at, kid`)
	if err != nil {
		return nil, wrap(err, op)
	}
	return scanKeys(rows, op)
}

func scanKeys(rows *sql.Rows, op string) ([]gatehouse.SigningKey, error) {
	defer rows.Close()
	var keys []gatehouse.SigningKey
	for rows.Next() {
		var (
			k               gatehouse.SigningKey
			created, active int64
			retire          sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &created, &active, &retire); err != nil {
			return nil, wrap(err, op)
		}
		k.CreatedAt = fromMicros(created)
		k.ActiveAt = fromMicros(active)
		k.RetireAt = fromNullMicros(retire)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, op)
	}
	return keys, nil
}

// errUnchanged rolls back an update whose function changed nothing, so
// that its audit entry is not recorded either.
var errUnchanged = errors.New("key set unchanged")

// UpdateSigningKeys reads the key set, applies fn and writes what it
// changed, and audit, in one IMMEDIATE transaction. The transaction holds
// the database's write lock from its first statement, so no other writer,
// in this process or another, can change the key set between the read fn
// sees and the write: of updates racing on one rule, each sees the
// previous one's keys. Errors name kids only, never key material.
func (s *Store) UpdateSigningKeys(ctx context.Context, fn func([]gatehouse.SigningKey) ([]gatehouse.SigningKey, error), audit gatehouse.AuditEntry) error {
	const op = "update signing keys"
	err := s.change(ctx, op, audit, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at, kid`)
		if err != nil {
			return wrap(err, op)
		}
		current, err := scanKeys(rows, op)
		if err != nil {
			return err
		}
		next, err := fn(gatehouse.CloneSigningKeys(current))
		if err != nil {
			return err
		}
		c, err := gatehouse.DiffSigningKeys(current, next)
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		if c.Empty() {
			return errUnchanged
		}
		for _, k := range c.Added {
			_, err := tx.ExecContext(ctx, `
				INSERT INTO signing_keys (`+keyColumns+`)
				VALUES (?, ?, ?, ?, ?, ?)`,
				k.ID, k.Algorithm, k.PrivateKey, micros(k.CreatedAt), micros(k.ActiveAt), nullMicros(k.RetireAt))
			if err != nil {
				return wrap(err, fmt.Sprintf("%s: add %q", op, k.ID))
			}
		}
		for _, k := range c.Retired {
			_, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retire_at = ? WHERE kid = ?`, nullMicros(k.RetireAt), k.ID)
			if err != nil {
				return wrap(err, fmt.Sprintf("%s: retire %q", op, k.ID))
			}
		}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}
