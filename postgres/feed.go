package postgres

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/gatehouse-dev/gatehouse"
)

var _ gatehouse.ChangeFeed = (*Store)(nil)

// Timing of the change feed.
const (
	// feedIdle is how long the listener waits for a notice before it
	// checks that its connection still works. A server that goes away
	// cleanly (shut down, crashed, restarted) closes the connection and is
	// noticed at once; this bounds the time to notice one that vanished
	// without a word (a network partition), together with feedPingTimeout:
	// at most 3s, inside the 5s in which replicas must start to fail closed.
	// The price is one empty query a second per replica.
	feedIdle        = 1 * time.Second
	feedPingTimeout = 2 * time.Second
	// The listener reconnects after these delays, doubling from the first
	// to the last, so that a database that comes back is heard again within
	// seconds, while one that stays away is not hammered.
	feedRetryMin = 100 * time.Millisecond
	feedRetryMax = 2 * time.Second
)

// changesChannel is the NOTIFY channel of the store in schema; the
// triggers of migrations/ compute the same name.
func changesChannel(schema string) string {
	sum := md5.Sum([]byte(schema))
	return "gatehouse_changes_" + hex.EncodeToString(sum[:])
}

// WatchChanges implements gatehouse.ChangeFeed with LISTEN/NOTIFY. Triggers
// announce every committed change of a client, a signing key or a
// revocation, and of every update of a tenant, whichever process made it
// (see migrations/00001_init.sql and 00005_tenant_tree.sql);
// WatchChanges listens on a connection of its own, outside the pool, and
// calls fn for each, in commit order.
//
// It calls fn with ChangeResync once it is listening, ChangeLost when the
// connection fails, and ChangeResync again once it listens anew: notices sent
// in between are lost, so everything cached must be reloaded then. It
// returns nil when ctx ends, and an error when the store is closed.
func (s *Store) WatchChanges(ctx context.Context, fn func(gatehouse.Change)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()

	listening := false
	delay := feedRetryMin
	for {
		s.listen(ctx, func(ch gatehouse.Change) {
			if ch.Kind == gatehouse.ChangeResync {
				listening = true
				delay = feedRetryMin
			}
			fn(ch)
		})
		if listening {
			listening = false
			fn(gatehouse.Change{Kind: gatehouse.ChangeLost})
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
		timer.Stop()
		// Checked before ctx, which Close cancels too.
		select {
		case <-s.closed:
			return errors.New("postgres: watch changes: the store is closed")
		default:
		}
		if ctx.Err() != nil {
			return nil
		}
		delay = min(2*delay, feedRetryMax)
	}
}

// listen connects, listens, reports ChangeResync, then passes on notices
// until the connection fails or ctx ends. The failure itself is of no use to
// the caller, which can only try again, so it is not returned.
func (s *Store) listen(ctx context.Context, fn func(gatehouse.Change)) {
	cfg := s.pool.Config().ConnConfig
	// The store's pool cancels a query whose context ends by asking the
	// server; this connection's contexts end every feedIdle by design,
	// while it merely waits to read, and must then neither trouble the
	// server nor lose the connection. Under the deadline handler, a wait
	// cut short by its context leaves the connection intact.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()

	var schema *string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil || schema == nil {
		return
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{changesChannel(*schema)}.Sanitize()); err != nil {
		return
	}
	// From here on no committed change goes unheard; whatever was cached
	// before may be stale.
	fn(gatehouse.Change{Kind: gatehouse.ChangeResync})

	for {
		wctx, cancel := context.WithTimeout(ctx, feedIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			fn(parseChange(n.Payload))
			continue
		case ctx.Err() != nil:
			return
		case !pgconn.Timeout(err):
			return // the connection is gone
		}
		// Quiet for feedIdle: make sure the server is still there.
		pctx, cancel := context.WithTimeout(ctx, feedPingTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return
		}
	}
}

// parseChange reads a notice of the triggers: a kind letter, a colon, an id.
// A notice it does not understand (from a newer schema, say) becomes
// ChangeResync, which makes the replica reload everything: slower, never
// wrong.
func parseChange(payload string) gatehouse.Change {
	kind, id, ok := strings.Cut(payload, ":")
	if ok {
		switch kind {
		case "c":
			return gatehouse.Change{Kind: gatehouse.ChangeClient, ID: id}
		case "r":
			return gatehouse.Change{Kind: gatehouse.ChangeRevocation, ID: id}
		case "k":
			return gatehouse.Change{Kind: gatehouse.ChangeKeys, ID: id}
		case "t":
			return gatehouse.Change{Kind: gatehouse.ChangeTenant, ID: id}
		}
	}
	return gatehouse.Change{Kind: gatehouse.ChangeResync}
}
