package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// SigningKeys returns every stored key, oldest first; keys created in the same
// microsecond are ordered by kid so the order is stable.
func (s *Store) SigningKeys(ctx context.Context) ([]gatehouse.SigningKey, error) {
	const op = "signing keys"
	rows, err := s.r.QueryContext(ctx, `
		SELECT kid, algorithm, private_key, created_at, active_at, retire_at
		FROM signing_keys
		ORDER BY created_at, kid`)
	if err != nil {
		return nil, wrap(err, op)
	}
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

// AddSigningKey stores a new key. It fails
// with ErrConflict if the kid is taken. Errors name the kid only, never the
// key material.
func (s *Store) AddSigningKey(ctx context.Context, k gatehouse.SigningKey, audit gatehouse.AuditEntry) error {
	op := fmt.Sprintf("add signing key %q", k.ID)
	if len(k.PrivateKey) == 0 {
		return fmt.Errorf("sqlite: %s: no private key: %w", op, gatehouse.ErrInvalid)
	}
	return s.change(ctx, op, audit, func(tx *sql.Tx) error {
		return wrap(insertKey(ctx, tx, k), op)
	})
}

func insertKey(ctx context.Context, tx *sql.Tx, k gatehouse.SigningKey) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO signing_keys (kid, algorithm, private_key, created_at, active_at, retire_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, k.PrivateKey, micros(k.CreatedAt), micros(k.ActiveAt), nullMicros(k.RetireAt))
	return err
}

// RotateSigningKey adds next, retires the keys it replaces at
// retirePrevious, and records audit, in one IMMEDIATE
// transaction. The transaction holds the database's write lock from its
// first statement, so the check for a key created after unlessCreatedAfter
// and the insert cannot be split by another writer, in this process or
// another: of rotations racing on one unlessCreatedAfter, one wins and the
// others see its key and fail with ErrConflict.
//
// A key is replaced if it became active before next does; keys that become
// active later (rotated in ahead of time) are next's successors, not its
// predecessors, and keep their retirement. An earlier RetireAt is kept: a
// rotation never holds a key in the key set longer than already planned.
func (s *Store) RotateSigningKey(ctx context.Context, next gatehouse.SigningKey, retirePrevious, unlessCreatedAfter time.Time, audit gatehouse.AuditEntry) error {
	op := fmt.Sprintf("rotate to signing key %q", next.ID)
	if len(next.PrivateKey) == 0 {
		return fmt.Errorf("sqlite: %s: no private key: %w", op, gatehouse.ErrInvalid)
	}
	if retirePrevious.IsZero() {
		// The zero time would retire every earlier key at once (it is long
		// past), rejecting every token they signed; refuse rather than
		// guess whether "never" was meant.
		return fmt.Errorf("sqlite: %s: no retirement time for the previous keys: %w", op, gatehouse.ErrInvalid)
	}
	return s.change(ctx, op, audit, func(tx *sql.Tx) error {
		if !unlessCreatedAfter.IsZero() {
			var newer bool
			err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM signing_keys WHERE created_at > ?)`,
				micros(unlessCreatedAfter)).Scan(&newer)
			if err != nil {
				return wrap(err, op)
			}
			if newer {
				return fmt.Errorf("sqlite: %s: a key was created after %s, another rotation came first: %w",
					op, unlessCreatedAfter.UTC().Format(time.RFC3339Nano), gatehouse.ErrConflict)
			}
		}
		if err := insertKey(ctx, tx, next); err != nil {
			return wrap(err, op)
		}
		_, err := tx.ExecContext(ctx, `
			UPDATE signing_keys SET retire_at = ?1
			WHERE kid <> ?2 AND active_at < ?3 AND (retire_at IS NULL OR retire_at > ?1)`,
			micros(retirePrevious), next.ID, micros(next.ActiveAt))
		return wrap(err, op)
	})
}
