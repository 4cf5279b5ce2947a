package sqlite

import (
	"context"
	"database/sql"
	"fmt"

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

// AddSigningKey stores a new key. It fails with ErrConflict if the kid is
// taken. Errors name the kid only, never the key material.
func (s *Store) AddSigningKey(ctx context.Context, k gatehouse.SigningKey) error {
	op := fmt.Sprintf("add signing key %q", k.ID)
	if len(k.PrivateKey) == 0 {
		return fmt.Errorf("sqlite: %s: no private key: %w", op, gatehouse.ErrInvalid)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO signing_keys (kid, algorithm, private_key, created_at, active_at, retire_at)
			VALUES (?, ?, ?, ?, ?, ?)`,
			k.ID, k.Algorithm, k.PrivateKey, micros(k.CreatedAt), micros(k.ActiveAt), nullMicros(k.RetireAt))
		return wrap(err, op)
	})
}
