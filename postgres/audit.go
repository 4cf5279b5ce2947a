package postgres

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse"
)

// checkAudit refuses an entry that names no tenant, or a tenant no stored
// tenant can be: ListAudit shows one tenant's log at a time, so such an entry
// could never be read back, and storing it would lose the record while
// claiming to keep it. Refusing it fails the change it belongs to, which is
// the point: a change whose audit entry cannot be recorded must not happen.
func checkAudit(e gatehouse.AuditEntry, op string) error {
	if e.TenantID == "" || !storable(e.TenantID) {
		return fmt.Errorf("postgres: %s: audit entry names no possible tenant: %w", op, gatehouse.ErrInvalid)
	}
	return nil
}

// auditText makes s storable in a text column by replacing invalid UTF-8 and
// NUL bytes with U+FFFD; storable strings are kept as they are. Audit entries
// describe what callers sent, and a hostile one (a client id with a NUL byte
// in a refused request) must still be recorded rather than fail the insert,
// and with it the change.
func auditText(s string) string {
	if storable(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// maxAuditTarget bounds the bytes of a stored target. The target is part of
// the key of an index, and a B-tree index entry must fit in a third of a
// page (about 2.7 kB, after compression): a longer target, which a hostile
// request can name, would fail the insert. Real targets (client ids, kids,
// jtis) are far shorter.
const maxAuditTarget = 1024

// auditTarget is auditText, and cuts a target longer than maxAuditTarget,
// at a character boundary, marking the cut with an ellipsis. ListAudit maps
// its Target filter the same way, so the filter finds such an entry (and
// any other whose target starts alike, in the same tenant's log).
func auditTarget(s string) string {
	s = auditText(s)
	if len(s) <= maxAuditTarget {
		return s
	}
	const mark = "\u2026" // …
	cut := maxAuditTarget - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

func insertAudit(ctx context.Context, db execer, e gatehouse.AuditEntry) error {
	_, err := db.Exec(ctx, `
		INSERT INTO audit (time, tenant_id, actor_id, source_ip, action, target, outcome)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.Time, e.TenantID, auditText(e.ActorID), auditText(e.SourceIP),
		auditText(e.Action), auditTarget(e.Target), auditText(e.Outcome))
	return err
}

// audited runs fn in one transaction and records audit, unless it is
// gatehouse.NoAudit, in the same transaction once fn has succeeded: the
// change and its entry commit together or not at all, and a change that
// fails (fn's error, a conflict, a missing row) records nothing.
func (s *Store) audited(ctx context.Context, op string, audit gatehouse.AuditEntry, fn func(tx pgx.Tx) error) error {
	ok := !audit.IsZero()
	if ok {
		if err := checkAudit(audit, op); err != nil {
			return err
		}
	}
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if !ok {
			return nil
		}
		return wrap(ctx, insertAudit(ctx, tx, audit), op+": record audit entry")
	})
}

// change makes a change that is one statement and records audit with it.
// With an entry to record, fn runs in the transaction of audited; without
// one, on the pool, where the statement is atomic by itself and costs one
// round trip instead of three.
func (s *Store) change(ctx context.Context, op string, audit gatehouse.AuditEntry, fn func(db execer) error) error {
	if audit.IsZero() {
		return fn(s.pool)
	}
	return s.audited(ctx, op, audit, func(tx pgx.Tx) error { return fn(tx) })
}

// AppendAudit records e on its own: an action that changed nothing.
func (s *Store) AppendAudit(ctx context.Context, e gatehouse.AuditEntry) error {
	const op = "append audit entry"
	if err := checkAudit(e, op); err != nil {
		return err
	}
	return wrap(ctx, insertAudit(ctx, s.pool, e), op)
}

// ListAudit returns one page of a tenant's audit log, newest (highest Seq)
// first, below the f.Before cursor, optionally only the entries about
// f.Target. Limits are those of ListClients.
func (s *Store) ListAudit(ctx context.Context, f gatehouse.AuditFilter) ([]gatehouse.AuditEntry, error) {
	const op = "list audit"
	if f.TenantID == "" {
		// As in ListClients: an empty filter must not mean every tenant.
		return nil, fmt.Errorf("postgres: %s: tenant id is required: %w", op, gatehouse.ErrInvalid)
	}
	if f.Before < 0 {
		// No entry has a negative Seq, so no page ends at one: the caller
		// has a broken cursor, and a first page would hide that.
		return nil, fmt.Errorf("postgres: %s: negative cursor %d: %w", op, f.Before, gatehouse.ErrInvalid)
	}
	if !storable(f.TenantID) {
		return []gatehouse.AuditEntry{}, nil // AppendAudit refuses such a tenant
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = gatehouse.DefaultPageSize
	case limit > gatehouse.MaxListRows:
		limit = gatehouse.MaxListRows
	}
	before := f.Before
	if before == 0 {
		before = math.MaxInt64
	}
	// Two statements rather than one with "$2 = '' OR target = $2", so
	// that each is a plain index scan the planner cannot get wrong.
	var (
		rows pgx.Rows
		err  error
	)
	if f.Target == "" {
		rows, err = s.pool.Query(ctx, `
			SELECT seq, time, tenant_id, actor_id, source_ip, action, target, outcome
			FROM audit
			WHERE tenant_id = $1 AND seq < $2
			ORDER BY seq DESC
			LIMIT $3`, f.TenantID, before, limit)
	} else {
		rows, err = s.pool.Query(ctx, `
			SELECT seq, time, tenant_id, actor_id, source_ip, action, target, outcome
			FROM audit
			WHERE tenant_id = $1 AND target = $2 AND seq < $3
			ORDER BY seq DESC
			LIMIT $4`, f.TenantID, auditTarget(f.Target), before, limit)
	}
	if err != nil {
		return nil, wrap(ctx, err, op)
	}
	defer rows.Close()
	out := make([]gatehouse.AuditEntry, 0, min(limit, 64))
	for rows.Next() {
		var (
			e  gatehouse.AuditEntry
			at time.Time
		)
		if err := rows.Scan(&e.Seq, &at, &e.TenantID, &e.ActorID, &e.SourceIP, &e.Action, &e.Target, &e.Outcome); err != nil {
			return nil, wrap(ctx, err, op)
		}
		e.Time = at.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, err, op)
	}
	return out, nil
}
