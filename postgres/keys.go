package postgres

import (
	"context"
	"fmt"
	"time"

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

// AddSigningKey stores a new key. It fails with ErrConflict if the kid is
// taken. Errors name the kid only, never the key material: wrap keeps no
// server error detail, which could quote the row.
func (s *Store) AddSigningKey(ctx context.Context, k gatehouse.SigningKey) error {
	op := fmt.Sprintf("add signing key %q", k.ID)
	if len(k.PrivateKey) == 0 {
		return fmt.Errorf("postgres: %s: no private key: %w", op, gatehouse.ErrInvalid)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO signing_keys (kid, algorithm, private_key, created_at, active_at, retire_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.Algorithm, k.PrivateKey, k.CreatedAt, k.ActiveAt, nullTime(k.RetireAt))
	return wrap(ctx, err, op)
}
