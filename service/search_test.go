package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/service"
)

// seedNamed stores others clients named "other", then matches named
// "Match me", with ids c-00000 on in that order.
func seedNamed(t *testing.T, d *testdc.DataCenter, tenantID string, others, matches int) {
	t.Helper()
	now := time.Now().UTC()
	for i := range others + matches {
		name := "other"
		if i >= others {
			name = "Match me"
		}
		data, _ := json.Marshal(map[string]string{"client_name": name})
		c := gatehouse.Client{
			ID: fmt.Sprintf("c-%05d", i), TenantID: tenantID, AuthMethod: gatehouse.AuthSecretBasic,
			Status: gatehouse.StatusEnabled, Data: data, Generation: 1, CreatedAt: now, UpdatedAt: now,
		}
		if err := d.Store.CreateClient(t.Context(), c, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
	}
}

func adminPrincipal(t *testing.T, d *testdc.DataCenter) *service.Principal {
	t.Helper()
	p, err := d.Svc.AuthenticateAdmin(t.Context(), service.ClientCredentials{ClientID: d.Admin.ID, Secret: d.Admin.Secret, RemoteIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A search reads past the store's largest page: matches that sit after
// the first MaxPageSize clients of a tenant are found, page by page.
func TestFindClientsSearchesPastOneStorePage(t *testing.T) {
	d := testdc.Start(t, testdc.Options{})
	ctx := context.Background()
	p := adminPrincipal(t, d)
	const others, matches = gatehouse.MaxPageSize + 100, 105
	seedNamed(t, d, p.Client.TenantID, others, matches)

	var found []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("the search does not end")
		}
		page, err := d.Svc.FindClients(ctx, p, service.ClientQuery{Text: "match", After: after, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Clients {
			found = append(found, c.ID)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if len(found) != matches {
		t.Fatalf("found %d clients, want %d", len(found), matches)
	}
	for i, id := range found {
		if want := fmt.Sprintf("c-%05d", others+i); id != want {
			t.Fatalf("match %d is %s, want %s", i, id, want)
		}
	}
}
