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
// ParentID is empty). It is not part of gatehouse.Store yet; the storage
// conformance suite uses it, through storetest.TenantCreator, to check that
// ListClients keeps tenants apart. It fails with ErrConflict if the ID is
// taken or the parent does not exist.
func (s *Store) CreateTenant(ctx context.Context, t gatehouse.Tenant) error {
	op := fmt.Sprintf("create tenant %q", t.ID)
	return s.write(ctx, op, func(tx *sql.Tx) error {
		return wrap(insertTenant(ctx, tx, t), op)
	})
}

func insertTenant(ctx context.Context, tx *sql.Tx, t gatehouse.Tenant) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO tenants (id, parent_id, name, kind, enabled, version, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, nullString(t.ParentID), t.Name, t.Kind, t.Enabled, t.Version,
		micros(t.CreatedAt), micros(t.UpdatedAt))
	return err
}

const tenantColumns = `id, parent_id, name, kind, enabled, version, created_at, updated_at`

func scanTenant(row rowScanner) (gatehouse.Tenant, error) {
	var (
		t                gatehouse.Tenant
		parent           sql.NullString
		created, updated int64
	)
	if err := row.Scan(&t.ID, &parent, &t.Name, &t.Kind, &t.Enabled, &t.Version, &created, &updated); err != nil {
		return gatehouse.Tenant{}, err
	}
	t.ParentID = parent.String
	t.CreatedAt = fromMicros(created)
	t.UpdatedAt = fromMicros(updated)
	return t, nil
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
