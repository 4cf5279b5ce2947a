package service_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
)

// Every accepted limit pages through a tenant's clients and audit log
// with nothing lost or repeated, on both backends: in particular a page
// of the largest size still says whether another follows.
func TestListsPageAtEveryLimit(t *testing.T) {
	const clients, entries = 3000, 4000
	for _, backend := range testdc.Backends {
		t.Run(backend.Name, func(t *testing.T) {
			d := testdc.Start(t, testdc.Options{AdminID: "admin", Database: backend.Database(t)})
			p := adminPrincipal(t, d)
			ctx := t.Context()
			now := time.Now().UTC().Truncate(time.Microsecond)
			for i := range clients {
				c := gatehouse.Client{
					ID: fmt.Sprintf("c-%05d", i), TenantID: p.Client.TenantID, AuthMethod: gatehouse.AuthSecretBasic,
					Status: gatehouse.StatusEnabled, Data: []byte(`{}`), Generation: 1, CreatedAt: now, UpdatedAt: now,
				}
				if err := d.Store.CreateClient(ctx, c, gatehouse.NoAudit); err != nil {
					t.Fatal(err)
				}
			}
			for i := range entries {
				e := gatehouse.AuditEntry{Time: now, TenantID: p.Client.TenantID, ActorID: "admin", SourceIP: "127.0.0.1",
					Action: "client.update", Target: fmt.Sprintf("c-%05d", i%clients), Outcome: gatehouse.OutcomeSuccess}
				if err := d.Store.AppendAudit(ctx, e); err != nil {
					t.Fatal(err)
				}
			}

			for _, limit := range []int{1, 999, gatehouse.MaxPageSize} {
				listed := walk(t, "client", limit, clients+1, func(after string) ([]gatehouse.Client, string, error) {
					return d.Svc.ListClients(ctx, p, after, limit)
				}, func(c gatehouse.Client) string { return c.ID })
				if listed != clients+1 { // and the admin
					t.Errorf("limit %d: %d clients listed, want %d", limit, listed, clients+1)
				}
				listed = walk(t, "audit entry", limit, entries, func(after string) ([]gatehouse.AuditEntry, string, error) {
					return d.Svc.ListAudit(ctx, p, "", after, limit)
				}, func(e gatehouse.AuditEntry) string { return fmt.Sprint(e.Seq) })
				if listed != entries {
					t.Errorf("limit %d: %d audit entries listed, want %d", limit, listed, entries)
				}
			}
		})
	}
}

// walk pages through a list with next until its cursor ends, failing on a
// page larger than limit, a short page that is not the last, an item seen
// twice, or more pages than there can be; it returns how many items it saw.
func walk[T any](t *testing.T, what string, limit, most int, next func(after string) ([]T, string, error), key func(T) string) int {
	t.Helper()
	seen := map[string]bool{}
	after := ""
	for pages := 0; ; pages++ {
		if pages > most+1 {
			t.Fatalf("limit %d: the %s pages do not end", limit, what)
		}
		page, cursor, err := next(after)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > limit || (cursor != "" && len(page) != limit) {
			t.Fatalf("limit %d: a page of %d with next %q", limit, len(page), cursor)
		}
		for _, item := range page {
			if k := key(item); seen[k] {
				t.Fatalf("limit %d: %s %s listed twice", limit, what, k)
			} else {
				seen[k] = true
			}
		}
		if cursor == "" {
			return len(seen)
		}
		after = cursor
	}
}
