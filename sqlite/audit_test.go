package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/storetest"
)

func TestAuditAtomicity(t *testing.T) {
	storetest.RunAuditAtomicity(t,
		func(t *testing.T) gatehouse.Store {
			return openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db"))
		},
		func(t *testing.T, s gatehouse.Store) {
			// A trigger, so that only the audit insert fails, and fails
			// inside the change's transaction, as a full disk or a
			// corrupt index would.
			_, err := s.(*Store).w.ExecContext(t.Context(), `
				CREATE TRIGGER audit_broken BEFORE INSERT ON audit
				BEGIN
					SELECT RAISE(ABORT, 'the audit log is broken');
				END`)
			if err != nil {
				t.Fatal(err)
			}
		})
}
