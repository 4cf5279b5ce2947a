package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse"
)

type usageKey struct {
	client string
	hour   time.Time
}

// AddTokenUsage adds the counts in one transaction of two statements: one
// upsert of the whole batch, sent as arrays, then a bounded purge.
//
// Entries for one client and hour are summed here first: one INSERT ... ON
// CONFLICT cannot update a row twice. The upsert joins the clients with FOR
// KEY SHARE, so a client deleted meanwhile is skipped (the lock waits for
// the delete, then finds the row gone) instead of failing the batch on the
// foreign key, and a delete that comes later waits for the batch and takes
// its counts with it. Rows are locked in (client, hour) order, so replicas
// adding overlapping batches cannot deadlock.
//
// The purge deletes up to gatehouse.TokenUsagePurgeBatch counts of hours more than
// gatehouse.TokenUsageRetention older than the newest hour of the batch. It
// skips rows another transaction holds (SKIP LOCKED): every replica purges,
// and none needs to wait for another to do it.
func (s *Store) AddTokenUsage(ctx context.Context, counts []gatehouse.TokenUsage) error {
	const op = "add token usage"
	var newest time.Time
	sums := make(map[usageKey]int64, len(counts))
	for _, u := range counts {
		if u.ClientID == "" || !storable(u.ClientID) || u.Hour.IsZero() || u.Count < 1 {
			continue
		}
		k := usageKey{u.ClientID, u.Hour.Truncate(time.Hour).UTC()}
		sums[k] += u.Count
		if k.hour.After(newest) {
			newest = k.hour
		}
	}
	if len(sums) == 0 {
		return nil
	}
	keys := make([]usageKey, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	// Only to send a stable batch; the lock order is the ORDER BY's.
	slices.SortFunc(keys, func(a, b usageKey) int {
		return cmp.Or(cmp.Compare(a.client, b.client), a.hour.Compare(b.hour))
	})
	ids := make([]string, len(keys))
	hours := make([]time.Time, len(keys))
	ns := make([]int64, len(keys))
	for i, k := range keys {
		ids[i], hours[i], ns[i] = k.client, k.hour, sums[k]
	}
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO token_usage (client_id, hour, count)
			SELECT c.id, u.hour, u.count
			FROM unnest($1::text[], $2::timestamptz[], $3::bigint[]) AS u (client_id, hour, count)
			JOIN clients c ON c.id = u.client_id
			ORDER BY c.id, u.hour
			FOR KEY SHARE OF c
			ON CONFLICT (client_id, hour) DO UPDATE SET count = token_usage.count + EXCLUDED.count`,
			ids, hours, ns)
		if err != nil {
			return wrap(ctx, err, op)
		}
		_, err = tx.Exec(ctx, `
			DELETE FROM token_usage WHERE (client_id, hour) IN (
				SELECT client_id, hour FROM token_usage
				WHERE hour < $1
				ORDER BY hour
				LIMIT $2
				FOR UPDATE SKIP LOCKED)`,
			newest.Add(-gatehouse.TokenUsageRetention), gatehouse.TokenUsagePurgeBatch)
		return wrap(ctx, err, op+": purge")
	})
}

// TokenUsage returns the client's counts of the hours from since on, oldest
// first.
func (s *Store) TokenUsage(ctx context.Context, clientID string, since time.Time) ([]gatehouse.TokenUsage, error) {
	op := fmt.Sprintf("token usage of %q", clientID)
	if !storable(clientID) {
		return nil, nil // names no client
	}
	rows, err := s.pool.Query(ctx, `
		SELECT hour, count FROM token_usage
		WHERE client_id = $1 AND hour >= $2
		ORDER BY hour`, clientID, since)
	if err != nil {
		return nil, wrap(ctx, err, op)
	}
	defer rows.Close()
	var out []gatehouse.TokenUsage
	for rows.Next() {
		u := gatehouse.TokenUsage{ClientID: clientID}
		if err := rows.Scan(&u.Hour, &u.Count); err != nil {
			return nil, wrap(ctx, err, op)
		}
		u.Hour = u.Hour.UTC()
		out = append(out, u)
	}
	return out, wrap(ctx, rows.Err(), op)
}
