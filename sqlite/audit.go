package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"

	"github.com/gatehouse-dev/gatehouse"
)

// checkAudit refuses an entry that names no tenant: ListAudit shows one
// tenant's log at a time, so such an entry could never be read back, and
// storing it would lose the record while claiming to keep it. Refusing it
// fails the change it belongs to, which is the point: a change whose audit
// entry cannot be recorded must not happen.
func checkAudit(e gatehouse.AuditEntry, op string) error {
	if e.TenantID == "" {
		return fmt.Errorf("sqlite: %s: audit entry names no tenant: %w", op, gatehouse.ErrInvalid)
	}
	return nil
}

func insertAudit(ctx context.Context, tx *sql.Tx, e gatehouse.AuditEntry) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO audit (time, tenant_id, actor_id, source_ip, action, target, outcome)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		micros(e.Time), e.TenantID, e.ActorID, e.SourceIP, e.Action, e.Target, e.Outcome)
	return err
}

// change runs fn in a write transaction, as write does, and records audit,
// unless it is gatehouse.NoAudit, in the same transaction once fn has
// succeeded: the change and its entry commit together or not at all, and a
// change that fails (fn's error, a conflict, a missing row) records nothing.
func (s *Store) change(ctx context.Context, op string, audit gatehouse.AuditEntry, fn func(tx *sql.Tx) error) error {
	audited := !audit.IsZero()
	if audited {
		if err := checkAudit(audit, op); err != nil {
			return err
		}
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if !audited {
			return nil
		}
		return wrap(insertAudit(ctx, tx, audit), op+": record audit entry")
	})
}

// AppendAudit records e on its own: an action that changed nothing.
func (s *Store) AppendAudit(ctx context.Context, e gatehouse.AuditEntry) error {
	const op = "append audit entry"
	if err := checkAudit(e, op); err != nil {
		return err
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		return wrap(insertAudit(ctx, tx, e), op)
	})
}

// ListAudit returns one page of a tenant's audit log, newest (highest Seq)
// first, below the f.Before cursor, optionally only the entries about
// f.Target. Limits are those of ListClients.
func (s *Store) ListAudit(ctx context.Context, f gatehouse.AuditFilter) ([]gatehouse.AuditEntry, error) {
	const op = "list audit"
	if f.TenantID == "" {
		// As in ListClients: an empty filter must not mean every tenant.
		return nil, fmt.Errorf("sqlite: %s: tenant id is required: %w", op, gatehouse.ErrInvalid)
	}
	if f.Before < 0 {
		// No entry has a negative Seq, so no page ends at one: the caller
		// has a broken cursor, and a first page would hide that.
		return nil, fmt.Errorf("sqlite: %s: negative cursor %d: %w", op, f.Before, gatehouse.ErrInvalid)
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
	// Two statements rather than one with "? = '' OR target = ?", so that
	// each is a plain seek on its own index.
	var (
		rows *sql.Rows
		err  error
	)
	if f.Target == "" {
		rows, err = s.r.QueryContext(ctx, `
			SELECT seq, time, tenant_id, actor_id, source_ip, action, target, outcome
			FROM audit
			WHERE tenant_id = ? AND seq < ?
			ORDER BY seq DESC
			LIMIT ?`, f.TenantID, before, limit)
	} else {
		rows, err = s.r.QueryContext(ctx, `
			SELECT seq, time, tenant_id, actor_id, source_ip, action, target, outcome
			FROM audit
			WHERE tenant_id = ? AND target = ? AND seq < ?
			ORDER BY seq DESC
			LIMIT ?`, f.TenantID, f.Target, before, limit)
	}
	if err != nil {
		return nil, wrap(err, op)
	}
	defer rows.Close()
	out := make([]gatehouse.AuditEntry, 0, min(limit, 64))
	for rows.Next() {
		var (
			e  gatehouse.AuditEntry
			us int64
		)
		if err := rows.Scan(&e.Seq, &us, &e.TenantID, &e.ActorID, &e.SourceIP, &e.Action, &e.Target, &e.Outcome); err != nil {
			return nil, wrap(err, op)
		}
		e.Time = fromMicros(us)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, op)
	}
	return out, nil
}
