package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse"
)

// SigningKeys returns every stored key, oldest first; keys created in the same
// microsecond are ordered by kid (bytewise) so the order is stable.
func (s *Store) SigningKeys(ctx context.Context) ([]gatehouse.SigningKey, error) {
	const op = "signing keys"
	rows, err := s.pool.Query(ctx, `
		SELECT kid, algorithm, private_key, created_at, active_at, retire_at
		FROM signing_keys
		ORDER BY created_at, kid`)
	if err != nil {
		return nil, wrap(ctx, err, op)
	}
	defer rows.Close()
	var keys []gatehouse.SigningKey
	for rows.Next() {
		var (
			k               gatehouse.SigningKey
			created, active time.Time
			retire          *time.Time
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &created, &active, &retire); err != nil {
			return nil, wrap(ctx, err, op)
		}
		k.CreatedAt = created.UTC()
		k.ActiveAt = active.UTC()
		k.RetireAt = fromNullTime(retire)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, err, op)
	}
	return keys, nil
}

// AddSigningKey stores a new key. It fails
// with ErrConflict if the kid is taken. Errors name the kid only, never the
// key material: wrap keeps no server error detail, which could quote the row.
func (s *Store) AddSigningKey(ctx context.Context, k gatehouse.SigningKey, audit gatehouse.AuditEntry) error {
	op := fmt.Sprintf("add signing key %q", k.ID)
	if len(k.PrivateKey) == 0 {
		return fmt.Errorf("postgres: %s: no private key: %w", op, gatehouse.ErrInvalid)
	}
	return s.change(ctx, op, audit, func(db execer) error {
		return wrap(ctx, insertKey(ctx, db, k), op)
	})
}

func insertKey(ctx context.Context, db execer, k gatehouse.SigningKey) error {
	_, err := db.Exec(ctx, `
		INSERT INTO signing_keys (kid, algorithm, private_key, created_at, active_at, retire_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.Algorithm, k.PrivateKey, k.CreatedAt, k.ActiveAt, nullTime(k.RetireAt))
	return err
}

// RotateSigningKey adds next, retires the keys it replaces at
// retirePrevious, and records audit, in one
// transaction.
//
// The transaction first locks signing_keys in SHARE ROW EXCLUSIVE mode, as
// Bootstrap locks tenants: the mode conflicts with itself and with every
// insert, update or delete of keys, but not with reads, so the JWKS and the
// token path keep reading while rotations, in any number of replicas, take
// turns. Under READ COMMITTED the check for a key created after
// unlessCreatedAfter is a new snapshot, taken once the lock is granted, so
// it sees the key of a rotation (or AddSigningKey) that committed while this
// one waited: of rotations racing on one unlessCreatedAfter, one wins and
// the others fail with ErrConflict. An advisory lock would serialize
// rotations only with each other; the table lock also orders them with
// AddSigningKey, and lives in the store's own schema without a key to
// derive.
//
// A key is replaced if it became active before next does; keys that become
// active later (rotated in ahead of time) are next's successors, not its
// predecessors, and keep their retirement. An earlier RetireAt is kept: a
// rotation never holds a key in the key set longer than already planned.
// The keys' trigger announces next and every key whose retirement changed
// on the change feed (ChangeKeys), when the transaction commits.
func (s *Store) RotateSigningKey(ctx context.Context, next gatehouse.SigningKey, retirePrevious, unlessCreatedAfter time.Time, audit gatehouse.AuditEntry) error {
	op := fmt.Sprintf("rotate to signing key %q", next.ID)
	if len(next.PrivateKey) == 0 {
		return fmt.Errorf("postgres: %s: no private key: %w", op, gatehouse.ErrInvalid)
	}
	if retirePrevious.IsZero() {
		// The zero time would retire every earlier key at once (it is long
		// past), rejecting every token they signed; refuse rather than
		// guess whether "never" was meant.
		return fmt.Errorf("postgres: %s: no retirement time for the previous keys: %w", op, gatehouse.ErrInvalid)
	}
	return s.audited(ctx, op, audit, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return wrap(ctx, err, op)
		}
		if !unlessCreatedAfter.IsZero() {
			var newer bool
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM signing_keys WHERE created_at > $1)`,
				unlessCreatedAfter).Scan(&newer)
			if err != nil {
				return wrap(ctx, err, op)
			}
			if newer {
				return fmt.Errorf("postgres: %s: a key was created after %s, another rotation came first: %w",
					op, unlessCreatedAfter.UTC().Format(time.RFC3339Nano), gatehouse.ErrConflict)
			}
		}
		if err := insertKey(ctx, tx, next); err != nil {
			return wrap(ctx, err, op)
		}
		_, err := tx.Exec(ctx, `
			UPDATE signing_keys SET retire_at = $1
			WHERE kid <> $2 AND active_at < $3 AND (retire_at IS NULL OR retire_at > $1)`,
			retirePrevious, next.ID, next.ActiveAt)
		return wrap(ctx, err, op)
	})
}
