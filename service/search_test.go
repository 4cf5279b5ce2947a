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

// A search reads past the store's largest page: matches that sit after
// the first MaxPageSize clients of a tenant are found, page by page.
func TestFindClientsSearchesPastOneStorePage(t *testing.T) {
	d := testdc.Start(t, testdc.Options{})
	ctx := context.Background()
	p, err := d.Svc.AuthenticateAdmin(ctx, service.ClientCredentials{ClientID: d.Admin.ID, Secret: d.Admin.Secret, RemoteIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	const others, matches = gatehouse.MaxPageSize + 100, 105
	now := time.Now().UTC()
	for i := range others + matches {
		name := "other"
		if i >= others {
			name = "Match me"
		}
		data, _ := json.Marshal(map[string]string{"client_name": name})
		c := gatehouse.Client{
			ID: fmt.Sprintf("c-%05d", i), TenantID: p.Client.TenantID, AuthMethod: gatehouse.AuthSecretBasic,
			Status: gatehouse.StatusEnabled, Data: data, Generation: 1, CreatedAt: now, UpdatedAt: now,
		}
		if err := d.Store.CreateClient(ctx, c, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
	}

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
