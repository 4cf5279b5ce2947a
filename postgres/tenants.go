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
// ParentID is empty). It fails with ErrConflict if the ID is taken or the
// parent does not exist.
func (s *Store) CreateTenant(ctx context.Context, t gatehouse.Tenant) error {
	return wrap(ctx, insertTenant(ctx, s.pool, t), fmt.Sprintf("create tenant %q", t.ID))
}

func insertTenant(ctx context.Context, db execer, t gatehouse.Tenant) error {
	_, err := db.Exec(ctx, `
		INSERT INTO tenants (id, parent_id, name, kind, enabled, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		t.ID, nullString(t.ParentID), t.Name, t.Kind, t.Enabled, t.Version,
		t.CreatedAt, t.UpdatedAt)
	return err
}

const tenantColumns = `id, parent_id, name, kind, enabled, version, created_at, updated_at`

func scanTenant(row pgx.Row) (gatehouse.Tenant, error) {
	var (
		t                gatehouse.Tenant
		parent           *string
		created, updated time.Time
	)
	if err := row.Scan(&t.ID, &parent, &t.Name, &t.Kind, &t.Enabled, &t.Version, &created, &updated); err != nil {
		return gatehouse.Tenant{}, err
	}
	t.ParentID = fromNullString(parent)
	t.CreatedAt = created.UTC()
	t.UpdatedAt = updated.UTC()
	return t, nil
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
