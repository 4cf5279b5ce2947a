package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// AddTokenUsage adds the counts in one IMMEDIATE transaction. Each entry is
// an upsert that adds to the stored count, and inserts only if the client
// exists, so entries for unknown or deleted clients are skipped rather than
// failing the batch on the foreign key. The same transaction purges up to
// gatehouse.TokenUsagePurgeBatch counts of hours more than gatehouse.TokenUsageRetention
// older than the newest hour of the batch.
func (s *Store) AddTokenUsage(ctx context.Context, counts []gatehouse.TokenUsage) error {
	const op = "add token usage"
	var newest time.Time
	todo := make([]gatehouse.TokenUsage, 0, len(counts))
	for _, u := range counts {
		if u.ClientID == "" || u.Hour.IsZero() || u.Count < 1 {
			continue
		}
		u.Hour = u.Hour.Truncate(time.Hour)
		if u.Hour.After(newest) {
			newest = u.Hour
		}
		todo = append(todo, u)
	}
	if len(todo) == 0 {
		return nil
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		// The WHERE clause is also what SQLite's grammar needs to tell the
		// upsert's ON CONFLICT from a join constraint of the SELECT.
		stmt, err := tx.PrepareContext(ctx, `
			INSERT INTO token_usage (client_id, hour, count)
			SELECT id, ?2, ?3 FROM clients WHERE id = ?1
			ON CONFLICT (client_id, hour) DO UPDATE SET count = count + excluded.count`)
		if err != nil {
			return wrap(err, op)
		}
		defer stmt.Close()
		for _, u := range todo {
			if _, err := stmt.ExecContext(ctx, u.ClientID, micros(u.Hour), u.Count); err != nil {
				return wrap(err, op)
			}
		}
		_, err = tx.ExecContext(ctx, `
			DELETE FROM token_usage WHERE rowid IN (
				SELECT rowid FROM token_usage WHERE hour < ? ORDER BY hour LIMIT ?)`,
			micros(newest.Add(-gatehouse.TokenUsageRetention)), gatehouse.TokenUsagePurgeBatch)
		return wrap(err, op+": purge")
	})
}

// TokenUsage returns the client's counts of the hours from since on, oldest
// first.
func (s *Store) TokenUsage(ctx context.Context, clientID string, since time.Time) ([]gatehouse.TokenUsage, error) {
	op := fmt.Sprintf("token usage of %q", clientID)
	rows, err := s.r.QueryContext(ctx, `
		SELECT hour, count FROM token_usage
		WHERE client_id = ? AND hour >= ?
		ORDER BY hour`, clientID, micros(since))
	if err != nil {
		return nil, wrap(err, op)
	}
	defer rows.Close()
	var out []gatehouse.TokenUsage
	for rows.Next() {
		u := gatehouse.TokenUsage{ClientID: clientID}
		var hour int64
		if err := rows.Scan(&hour, &u.Count); err != nil {
			return nil, wrap(err, op)
		}
		u.Hour = fromMicros(hour)
		out = append(out, u)
	}
	return out, wrap(rows.Err(), op)
}
