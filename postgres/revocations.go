package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// RevokeToken records a revocation; a second revocation of the same jti
// keeps the first record. Either way audit is
// recorded: the request to revoke was made and honored.
func (s *Store) RevokeToken(ctx context.Context, r gatehouse.Revocation, audit gatehouse.AuditEntry) error {
	const op = "revoke token"
	if r.TokenID == "" {
		return fmt.Errorf("postgres: %s: no token id: %w", op, gatehouse.ErrInvalid)
	}
	return s.change(ctx, op, audit, func(db execer) error {
		_, err := db.Exec(ctx, `
			INSERT INTO revocations (jti, client_id, expires_at, revoked_at)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (jti) DO NOTHING`,
			r.TokenID, r.ClientID, r.ExpiresAt, r.RevokedAt)
		return wrap(ctx, err, op)
	})
}

// Revocations returns the revocations of tokens that expire after now,
// soonest expiry first.
func (s *Store) Revocations(ctx context.Context, now time.Time) ([]gatehouse.Revocation, error) {
	const op = "revocations"
	rows, err := s.pool.Query(ctx, `
		SELECT jti, client_id, expires_at, revoked_at
		FROM revocations
		WHERE expires_at > $1
		ORDER BY expires_at, jti`, now)
	if err != nil {
		return nil, wrap(ctx, err, op)
	}
	defer rows.Close()
	var out []gatehouse.Revocation
	for rows.Next() {
		var r gatehouse.Revocation
		if err := rows.Scan(&r.TokenID, &r.ClientID, &r.ExpiresAt, &r.RevokedAt); err != nil {
			return nil, wrap(ctx, err, op)
		}
		r.ExpiresAt, r.RevokedAt = r.ExpiresAt.UTC(), r.RevokedAt.UTC()
		out = append(out, r)
	}
	return out, wrap(ctx, rows.Err(), op)
}

// PurgeRevocations forgets revocations of tokens expired before cutoff.
func (s *Store) PurgeRevocations(ctx context.Context, cutoff time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM revocations WHERE expires_at < $1`, cutoff)
	if err != nil {
		return 0, wrap(ctx, err, "purge revocations")
	}
	return int(tag.RowsAffected()), nil
}
