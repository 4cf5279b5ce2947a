package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse"
)

// Bootstrap creates root and admin if the store holds no tenant yet. The
// transaction first locks the tenants table in SHARE ROW EXCLUSIVE mode,
// which conflicts with itself and with every insert, update or delete of
// tenants but not with reads: of any number of racing callers, in any
// number of replicas, one at a time gets past the lock, and each checks for
// a tenant only then. Under READ COMMITTED that check is a new snapshot,
// taken after the lock was granted, so it sees the tenant a previous holder
// committed. The lock lives in the store's own schema and ends with the
// transaction.
func (s *Store) Bootstrap(ctx context.Context, root gatehouse.Tenant, admin gatehouse.Client) (bool, error) {
	const op = "bootstrap"
	if err := validData(admin, op); err != nil {
		return false, err
	}
	created := false
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE tenants IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return wrap(ctx, err, op)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenants)`).Scan(&exists); err != nil {
			return wrap(ctx, err, op)
		}
		if exists {
			return nil
		}
		if err := insertTenant(ctx, tx, root); err != nil {
			return wrap(ctx, err, fmt.Sprintf("%s: tenant %q", op, root.ID))
		}
		if err := insertClient(ctx, tx, admin); err != nil {
			return wrap(ctx, err, fmt.Sprintf("%s: client %q", op, admin.ID))
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
// ErrConflict if the ID is taken or the parent does not exist. The insert is
// one statement; only an audit entry calls for a transaction (see change).
func (s *Store) CreateTenant(ctx context.Context, t gatehouse.Tenant, audit gatehouse.AuditEntry) error {
	op := fmt.Sprintf("create tenant %q", t.ID)
	if t.ParentID != "" && t.ParentID == t.ID {
		// PostgreSQL checks a foreign key once the row is in, when a row
		// that names itself satisfies its own reference: refused here,
		// since a tenant that is its own parent would have no root.
		return fmt.Errorf("postgres: %s: a tenant cannot be its own parent: %w", op, gatehouse.ErrConflict)
	}
	return s.change(ctx, op, audit, func(db execer) error {
		return wrap(ctx, insertTenant(ctx, db, t), op)
	})
}

func insertTenant(ctx context.Context, db execer, t gatehouse.Tenant) error {
	_, err := db.Exec(ctx, `
		INSERT INTO tenants (`+tenantColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		t.ID, nullString(t.ParentID), t.Name, t.Kind, t.Enabled, t.Version, t.Generation,
		t.CreatedAt, t.UpdatedAt)
	return err
}

const tenantColumns = `id, parent_id, name, kind, enabled, version, generation, created_at, updated_at`

func scanTenant(row pgx.Row) (gatehouse.Tenant, error) {
	var (
		t                gatehouse.Tenant
		parent           *string
		created, updated time.Time
	)
	if err := row.Scan(&t.ID, &parent, &t.Name, &t.Kind, &t.Enabled, &t.Version, &t.Generation, &created, &updated); err != nil {
		return gatehouse.Tenant{}, err
	}
	t.ParentID = fromNullString(parent)
	t.CreatedAt = created.UTC()
	t.UpdatedAt = updated.UTC()
	return t, nil
}

func scanTenants(ctx context.Context, rows pgx.Rows, op string) ([]gatehouse.Tenant, error) {
	defer rows.Close()
	out := []gatehouse.Tenant{}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, wrap(ctx, err, op)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, err, op)
	}
	return out, nil
}

// GetTenant returns the tenant with the given id, or ErrNotFound.
func (s *Store) GetTenant(ctx context.Context, id string) (gatehouse.Tenant, error) {
	op := fmt.Sprintf("get tenant %q", id)
	if !storable(id) {
		return gatehouse.Tenant{}, wrap(ctx, pgx.ErrNoRows, op)
	}
	t, err := scanTenant(s.pool.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id))
	if err != nil {
		return gatehouse.Tenant{}, wrap(ctx, err, op)
	}
	return t, nil
}

// RootTenant returns the tenant without a parent, or ErrNotFound before
// Bootstrap. CreateTenant can add further parentless tenants; of those, the
// one created first (by CreatedAt, then ID, bytewise) is the root, which is
// the one Bootstrap made unless a caller backdated another.
func (s *Store) RootTenant(ctx context.Context) (gatehouse.Tenant, error) {
	t, err := scanTenant(s.pool.QueryRow(ctx, `
		SELECT `+tenantColumns+` FROM tenants
		WHERE parent_id IS NULL
		ORDER BY created_at, id
		LIMIT 1`))
	if err != nil {
		return gatehouse.Tenant{}, wrap(ctx, err, "root tenant")
	}
	return t, nil
}

// UpdateTenant reads the tenant with SELECT ... FOR UPDATE, applies fn and
// writes the result, and audit, in one transaction,
// exactly as UpdateClient does: the row lock makes concurrent updates, in
// any replica, wait and then read the committed result, and nothing is
// written when fn fails. The stored ID, ParentID and CreatedAt are kept
// whatever fn returns: a tenant never moves, which is what lets callers
// cache its ancestry. The tenants trigger announces the change.
func (s *Store) UpdateTenant(ctx context.Context, id string, fn func(gatehouse.Tenant) (gatehouse.Tenant, error), audit gatehouse.AuditEntry) (gatehouse.Tenant, error) {
	op := fmt.Sprintf("update tenant %q", id)
	if !storable(id) {
		return gatehouse.Tenant{}, wrap(ctx, pgx.ErrNoRows, op)
	}
	var updated gatehouse.Tenant
	err := s.audited(ctx, op, audit, func(tx pgx.Tx) error {
		cur, err := scanTenant(tx.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return wrap(ctx, err, op)
		}
		next, err := fn(cur)
		if err != nil {
			return err // the caller's own error, unchanged
		}
		updated, err = scanTenant(tx.QueryRow(ctx, `
			UPDATE tenants SET
				name = $1, kind = $2, enabled = $3, version = $4, generation = $5, updated_at = $6
			WHERE id = $7
			RETURNING `+tenantColumns,
			next.Name, next.Kind, next.Enabled, next.Version, next.Generation, next.UpdatedAt, id))
		return wrap(ctx, err, op)
	})
	if err != nil {
		return gatehouse.Tenant{}, err
	}
	return updated, nil
}

// ListTenantChildren returns the direct children of parentID in ascending
// ID order (bytewise: the id column is COLLATE "C"); an unknown parent has
// none.
func (s *Store) ListTenantChildren(ctx context.Context, parentID string) ([]gatehouse.Tenant, error) {
	op := fmt.Sprintf("list children of tenant %q", parentID)
	if !storable(parentID) {
		return []gatehouse.Tenant{}, nil // no such tenant can exist
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+tenantColumns+` FROM tenants
		WHERE parent_id = $1
		ORDER BY id`, parentID)
	if err != nil {
		return nil, wrap(ctx, err, op)
	}
	return scanTenants(ctx, rows, op)
}

// TenantAncestry returns the tenant and its ancestors, nearest first, with
// one recursive query: one statement reads one snapshot, so a concurrent
// update cannot show half of the chain before it and half after.
func (s *Store) TenantAncestry(ctx context.Context, id string) ([]gatehouse.Tenant, error) {
	op := fmt.Sprintf("tenant ancestry of %q", id)
	if !storable(id) {
		return nil, wrap(ctx, pgx.ErrNoRows, op)
	}
	rows, err := s.pool.Query(ctx, `
		WITH RECURSIVE chain AS (
			SELECT `+tenantColumns+`, 0 AS depth FROM tenants WHERE id = $1
			UNION ALL
			SELECT t.id, t.parent_id, t.name, t.kind, t.enabled, t.version, t.generation, t.created_at, t.updated_at, c.depth + 1
			FROM tenants t JOIN chain c ON t.id = c.parent_id
			WHERE c.depth < $2
		)
		SELECT `+tenantColumns+` FROM chain ORDER BY depth`, id, gatehouse.MaxTenantDepth)
	if err != nil {
		return nil, wrap(ctx, err, op)
	}
	chain, err := scanTenants(ctx, rows, op)
	if err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, wrap(ctx, pgx.ErrNoRows, op)
	}
	return chain, nil
}
