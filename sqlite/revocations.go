package sqlite

import (
	"context"
	"database/sql"
	"errors"
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
		return fmt.Errorf("sqlite: %s: no token id: %w", op, gatehouse.ErrInvalid)
	}
	return s.change(ctx, op, audit, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO revocations (jti, client_id, expires_at, revoked_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (jti) DO NOTHING`,
			r.TokenID, r.ClientID, micros(r.ExpiresAt), micros(r.RevokedAt))
		return wrap(err, op)
	})
}

// Revocations returns the revocations of tokens that expire after now.
func (s *Store) Revocations(ctx context.Context, now time.Time) ([]gatehouse.Revocation, error) {
	const op = "revocations"
	rows, err := s.r.QueryContext(ctx, `
		SELECT jti, client_id, expires_at, revoked_at
		FROM revocations
		WHERE expires_at > ?
		ORDER BY expires_at, jti`, micros(now))
	if err != nil {
		return nil, wrap(err, op)
	}
	defer rows.Close()
	var out []gatehouse.Revocation
	for rows.Next() {
		var (
			r                gatehouse.Revocation
			expires, revoked int64
		)
		if err := rows.Scan(&r.TokenID, &r.ClientID, &expires, &revoked); err != nil {
			return nil, wrap(err, op)
		}
		r.ExpiresAt, r.RevokedAt = fromMicros(expires), fromMicros(revoked)
		out = append(out, r)
	}
	return out, wrap(rows.Err(), op)
}

// PurgeRevocations forgets up to gatehouse.RevocationPurgeBatch
// revocations of tokens expired before cutoff, soonest expiry first.
func (s *Store) PurgeRevocations(ctx context.Context, cutoff time.Time) (int, error) {
	const op = "purge revocations"
	var n int64
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			DELETE FROM revocations WHERE jti IN (
				SELECT jti FROM revocations WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`,
			micros(cutoff), gatehouse.RevocationPurgeBatch)
		if err != nil {
			return wrap(err, op)
		}
		n, err = res.RowsAffected()
		return wrap(err, op)
	})
	return int(n), err
}

// AdvanceRevocationHorizon raises the one horizon row to at, keeping a
// later one, through the write connection that serialises every writer.
func (s *Store) AdvanceRevocationHorizon(ctx context.Context, at time.Time) (time.Time, error) {
	const op = "advance revocation horizon"
	var horizon int64
	if at.IsZero() {
		err := s.r.QueryRowContext(ctx, `SELECT horizon FROM revocation_horizon WHERE id = 1`).Scan(&horizon)
		if errors.Is(err, sql.ErrNoRows) {
			return time.Time{}, nil
		}
		return fromMicros(horizon), wrap(err, op)
	}
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		return wrap(tx.QueryRowContext(ctx, `
			INSERT INTO revocation_horizon (id, horizon) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET horizon = max(horizon, excluded.horizon)
			RETURNING horizon`, micros(at)).Scan(&horizon), op)
	})
	if err != nil {
		return time.Time{}, err
	}
	return fromMicros(horizon), nil
}
