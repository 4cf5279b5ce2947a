package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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

// PurgeRevocations forgets up to gatehouse.RevocationPurgeBatch
// revocations of tokens expired before cutoff, soonest expiry first. Rows
// another replica's purge holds are skipped (SKIP LOCKED): it deletes
// them, and neither waits for the other.
func (s *Store) PurgeRevocations(ctx context.Context, cutoff time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM revocations WHERE jti IN (
			SELECT jti FROM revocations
			WHERE expires_at < $1
			ORDER BY expires_at
			LIMIT $2
			FOR UPDATE SKIP LOCKED)`,
		cutoff, gatehouse.RevocationPurgeBatch)
	if err != nil {
		return 0, wrap(ctx, err, "purge revocations")
	}
	return int(tag.RowsAffected()), nil
}

// AdvanceRevocationHorizon raises the one horizon row to at, keeping a
// later one. Replicas advancing it together queue on the row's lock, and
// each gets the greatest of what they all passed so far.
func (s *Store) AdvanceRevocationHorizon(ctx context.Context, at time.Time) (time.Time, error) {
	const op = "advance revocation horizon"
	var horizon time.Time
	var err error
	if at.IsZero() {
		err = s.pool.QueryRow(ctx, `SELECT horizon FROM revocation_horizon WHERE id = 1`).Scan(&horizon)
		if errors.Is(err, pgx.ErrNoRows) {
			return time.Time{}, nil
		}
	} else {
		err = s.pool.QueryRow(ctx, `
			INSERT INTO revocation_horizon (id, horizon) VALUES (1, $1)
			ON CONFLICT (id) DO UPDATE SET horizon = GREATEST(revocation_horizon.horizon, excluded.horizon)
			RETURNING horizon`, at).Scan(&horizon)
	}
	if err != nil {
		return time.Time{}, wrap(ctx, err, op)
	}
	return horizon.UTC(), nil
}
