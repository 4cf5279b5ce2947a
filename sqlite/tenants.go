package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gatehouse-dev/gatehouse"
)

// Bootstrap creates root and admin if the store holds no tenant yet. The
// check and the inserts share one IMMEDIATE transaction, which holds the
// database's write lock from its first statement, so of any number of racing
// callers (in this process or another) exactly one sees an empty store.
func (s *Store) Bootstrap(ctx context.Context, root gatehouse.Tenant, admin gatehouse.Client) (bool, error) {
	if err := validData(admin, "bootstrap"); err != nil {
		return false, err
	}
	created := false
	err := s.write(ctx, "bootstrap", func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM tenants)`).Scan(&exists); err != nil {
			return wrap(err, "bootstrap")
		}
		if exists {
			return nil
		}
		if err := insertTenant(ctx, tx, root); err != nil {
			return wrap(err, fmt.Sprintf("bootstrap: tenant %q", root.ID))
		}
		if err := insertClient(ctx, tx, admin); err != nil {
			return wrap(err, fmt.Sprintf("bootstrap: client %q", admin.ID))
		}
		created = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

// CreateTenant adds a tenant below an existing parent (or a root, when
// ParentID is empty), and records audit. It fails with
// ErrConflict if the ID is taken or the parent does not exist.
func (s *Store) CreateTenant(ctx context.Context, t gatehouse.Tenant, audit gatehouse.AuditEntry) error {
	op := fmt.Sprintf("create tenant %q", t.ID)
	if t.ParentID != "" && t.ParentID == t.ID {
		// SQLite checks a foreign key once the row is in, when a row that
		// names itself satisfies its own reference: refused here, since a
		// tenant that is its own parent would have no root.
		return fmt.Errorf("sqlite: %s: a tenant cannot be its own parent: %w", op, gatehouse.ErrConflict)
	}
	return s.change(ctx, op, audit, func(tx *sql.Tx) error {
		return wrap(insertTenant(ctx, tx, t), op)
	})
}

func insertTenant(ctx context.Context, tx *sql.Tx, t gatehouse.Tenant) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO tenants (`+tenantColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, nullString(t.ParentID), t.Name, t.Kind, t.Enabled, t.Version, t.Generation,
		micros(t.CreatedAt), micros(t.UpdatedAt))
	return err
}

const tenantColumns = `id, parent_id, name, kind, enabled, version, generation, created_at, updated_at`

func scanTenant(row rowScanner) (gatehouse.Tenant, error) {
	var (
		t                gatehouse.Tenant
		parent           sql.NullString
		created, updated int64
	)
	if err := row.Scan(&t.ID, &parent, &t.Name, &t.Kind, &t.Enabled, &t.Version, &t.Generation, &created, &updated); err != nil {
		return gatehouse.Tenant{}, err
	}
	t.ParentID = parent.String
	t.CreatedAt = fromMicros(created)
	t.UpdatedAt = fromMicros(updated)
	return t, nil
}

func scanTenants(rows *sql.Rows, op string) ([]gatehouse.Tenant, error) {
	defer rows.Close()
	out := []gatehouse.Tenant{}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, wrap(err, op)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, op)
	}
	return out, nil
}

// GetTenant returns the tenant with the given id, or ErrNotFound.
func (s *Store) GetTenant(ctx context.Context, id string) (gatehouse.Tenant, error) {
	t, err := scanTenant(s.r.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = ?`, id))
	if err != nil {
		return gatehouse.Tenant{}, wrap(err, fmt.Sprintf("get tenant %q", id))
	}
	return t, nil
}

// RootTenant returns the tenant without a parent, or ErrNotFound before
// Bootstrap. CreateTenant can add further parentless tenants; of those, the
// one created first (by CreatedAt, then ID) is the root, which is the one
// Bootstrap made unless a caller backdated another.
func (s *Store) RootTenant(ctx context.Context) (gatehouse.Tenant, error) {
	t, err := scanTenant(s.r.QueryRowContext(ctx, `
		SELECT `+tenantColumns+` FROM tenants
		WHERE parent_id IS NULL
		ORDER BY created_at, id
		LIMIT 1`))
	if err != nil {
		return gatehouse.Tenant{}, wrap(err, "root tenant")
	}
	return t, nil
}

// UpdateTenant reads the tenant, applies fn and writes the result, and
// audit, in one IMMEDIATE transaction, exactly as
// UpdateClient does: no lost updates, and nothing written when fn fails.
// The stored ID, ParentID and CreatedAt are kept whatever fn returns: a
// tenant never moves, which is what lets callers cache its ancestry.
func (s *Store) UpdateTenant(ctx context.Context, id string, fn func(gatehouse.Tenant) (gatehouse.Tenant, error), audit gatehouse.AuditEntry) (gatehouse.Tenant, error) {
	op := fmt.Sprintf("update tenant %q", id)
	var updated gatehouse.Tenant
	err := s.change(ctx, op, audit, func(tx *sql.Tx) error {
		cur, err := scanTenant(tx.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = ?`, id))
		if err != nil {
			return wrap(err, op)
		}
		next, err := fn(cur)
		if err != nil {
			return err // the caller's own error, unchanged
		}
		_, err = tx.ExecContext(ctx, `
			UPDATE tenants SET
				name = ?, kind = ?, enabled = ?, version = ?, generation = ?, updated_at = ?
			WHERE id = ?`,
			next.Name, next.Kind, next.Enabled, next.Version, next.Generation, micros(next.UpdatedAt), id)
		if err != nil {
			return wrap(err, op)
		}
		updated, err = scanTenant(tx.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = ?`, id))
		return wrap(err, op)
	})
	if err != nil {
		return gatehouse.Tenant{}, err
	}
	return updated, nil
}

// ListTenantChildren returns the direct children of parentID in ascending
// ID order (bytewise, SQLite's BINARY collation); an unknown parent has
// none.
func (s *Store) ListTenantChildren(ctx context.Context, parentID string) ([]gatehouse.Tenant, error) {
	op := fmt.Sprintf("list children of tenant %q", parentID)
	rows, err := s.r.QueryContext(ctx, `
		SELECT `+tenantColumns+` FROM tenants
		WHERE parent_id = ?
		ORDER BY id`, parentID)
	if err != nil {
		return nil, wrap(err, op)
	}
	return scanTenants(rows, op)
}

// TenantAncestry returns the tenant and its ancestors, nearest first, with
// one recursive query: one statement reads one snapshot, so a concurrent
// update cannot show half of the chain before it and half after.
func (s *Store) TenantAncestry(ctx context.Context, id string) ([]gatehouse.Tenant, error) {
	op := fmt.Sprintf("tenant ancestry of %q", id)
	rows, err := s.r.QueryContext(ctx, `
		WITH RECURSIVE chain (id, parent_id, name, kind, enabled, version, generation, created_at, updated_at, depth) AS (
			SELECT `+tenantColumns+`, 0 FROM tenants WHERE id = ?1
			UNION ALL
			SELECT t.id, t.parent_id, t.name, t.kind, t.enabled, t.version, t.generation, t.created_at, t.updated_at, c.depth + 1
			FROM tenants t JOIN chain c ON t.id = c.parent_id
			WHERE c.depth < ?2
		)
		SELECT `+tenantColumns+` FROM chain ORDER BY depth`, id, gatehouse.MaxTenantDepth)
	if err != nil {
		return nil, wrap(err, op)
	}
	chain, err := scanTenants(rows, op)
	if err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, wrap(sql.ErrNoRows, op)
	}
	return chain, nil
}
