package service_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/postgres/pgtest"
)

// Every accepted limit pages through a tenant's clients and audit log
// with nothing lost or repeated, on both backends: in particular a page
// of the largest size still says whether another follows.
func TestListsPageAtEveryLimit(t *testing.T) {
	const clients, entries = 3000, 4000
	for _, backend := range []struct {
		name     string
		database func(testing.TB) string
	}{
		{"sqlite", func(testing.TB) string { return "" }},
		{"postgres", pgtest.NewSchema},
	} {
		t.Run(backend.name, func(t *testing.T) {
			d := testdc.Start(t, testdc.Options{AdminID: "admin", Database: backend.database(t)})
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
				seen := map[string]bool{}
				after := ""
				for pages := 0; ; pages++ {
					if pages > clients+1 {
						t.Fatalf("limit %d: the client pages do not end", limit)
					}
					page, next, err := d.Svc.ListClients(ctx, p, after, limit)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > limit || (next != "" && len(page) != limit) {
						t.Fatalf("limit %d: a page of %d clients with next %q", limit, len(page), next)
					}
					for _, c := range page {
						if seen[c.ID] {
							t.Fatalf("limit %d: client %s listed twice", limit, c.ID)
						}
						seen[c.ID] = true
					}
					if next == "" {
						break
					}
					after = next
				}
				if len(seen) != clients+1 { // and the admin
					t.Errorf("limit %d: %d clients listed, want %d", limit, len(seen), clients+1)
				}

				seq := map[int64]bool{}
				after = ""
				for pages := 0; ; pages++ {
					if pages > entries+1 {
						t.Fatalf("limit %d: the audit pages do not end", limit)
					}
					page, next, err := d.Svc.ListAudit(ctx, p, "", after, limit)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > limit || (next != "" && len(page) != limit) {
						t.Fatalf("limit %d: a page of %d audit entries with next %q", limit, len(page), next)
					}
					for _, e := range page {
						if seq[e.Seq] {
							t.Fatalf("limit %d: audit entry %d listed twice", limit, e.Seq)
						}
						seq[e.Seq] = true
					}
					if next == "" {
						break
					}
					after = next
				}
				if len(seq) != entries {
					t.Errorf("limit %d: %d audit entries listed, want %d", limit, len(seq), entries)
				}
			}
		})
	}
}
