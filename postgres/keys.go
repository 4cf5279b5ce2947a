package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse"
)

const keyColumns = `kid, algorithm, private_key, created_at, active_at, retire_at`

// SigningKeys returns every stored key, oldest first; keys created in the same
// microsecond are ordered by kid (bytewise) so the order is stable.
func (s *Store) SigningKeys(ctx context.Context) ([]gatehouse.SigningKey, error) {
	const op = "signing keys"
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at, kid`)
	if err != nil {
		return nil, wrap(ctx, err, op)
	}
	return scanKeys(ctx, rows, op)
}

func scanKeys(ctx context.Context, rows pgx.Rows, op string) ([]gatehouse.SigningKey, error) {
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

// UpdateSigningKeys reads the key set, applies fn and writes what it
// changed, and audit, in one transaction.
//
// The transaction first locks signing_keys in SHARE ROW EXCLUSIVE mode, as
// Bootstrap locks tenants: the mode conflicts with itself and with every
// insert, update or delete of keys, but not with reads, so the JWKS and the
// token path keep reading while updaters, in any number of replicas, take
// turns. Under READ COMMITTED the read fn sees is a new snapshot, taken once
// the lock is granted, so it sees the keys of an update that committed
// while this one waited: a rule such as "unless another replica rotated
// already" holds across replicas. The table lock rather than an advisory
// one, because it also orders updaters with any other writer of the table
// (a migration, an operator's hand), and lives in the store's own schema
// without a key to derive.
//
// When fn changes nothing, the transaction is rolled back and nothing, not
// even audit, is written. The keys' trigger announces every added key and
// every key whose retirement changed on the change feed (ChangeKeys), when
// the transaction commits. Errors name kids only, never key material: wrap
// keeps no server error detail, which could quote the row.
func (s *Store) UpdateSigningKeys(ctx context.Context, fn func([]gatehouse.SigningKey) ([]gatehouse.SigningKey, error), audit gatehouse.AuditEntry) error {
	const op = "update signing keys"
	if !audit.IsZero() {
		if err := checkAudit(audit, op); err != nil {
			return err
		}
	}
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return wrap(ctx, err, op)
		}
		rows, err := tx.Query(ctx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at, kid`)
		if err != nil {
			return wrap(ctx, err, op)
		}
		current, err := scanKeys(ctx, rows, op)
		if err != nil {
			return err
		}
		next, err := fn(gatehouse.CloneSigningKeys(current))
		if err != nil {
			return err
		}
		c, err := gatehouse.DiffSigningKeys(current, next)
		if err != nil {
			return fmt.Errorf("postgres: %s: %w", op, err)
		}
		if c.Empty() {
			// Committing the lock alone writes nothing; the audit entry
			// is what must stay out.
			return nil
		}
		for _, k := range c.Added {
			_, err := tx.Exec(ctx, `
				INSERT INTO signing_keys (`+keyColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6)`,
				k.ID, k.Algorithm, k.PrivateKey, k.CreatedAt, k.ActiveAt, nullTime(k.RetireAt))
			if err != nil {
				return wrap(ctx, err, fmt.Sprintf("%s: add %q", op, k.ID))
			}
		}
		for _, k := range c.Retired {
			if _, err := tx.Exec(ctx, `UPDATE signing_keys SET retire_at = $1 WHERE kid = $2`, nullTime(k.RetireAt), k.ID); err != nil {
				return wrap(ctx, err, fmt.Sprintf("%s: retire %q", op, k.ID))
			}
		}
		if audit.IsZero() {
			return nil
		}
		return wrap(ctx, insertAudit(ctx, tx, audit), op+": record audit entry")
	})
}
