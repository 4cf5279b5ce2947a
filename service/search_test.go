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

// One search request reads at most MaxClientSearchScan clients: past
// them it answers the matches so far, marked partial, with a cursor that
// continues the search where it stopped.
func TestFindClientsBoundsItsScan(t *testing.T) {
	d := testdc.Start(t, testdc.Options{AdminID: "admin"})
	p := adminPrincipal(t, d)
	seedNamed(t, d, p.Client.TenantID, service.MaxClientSearchScan+50, 1)

	page, err := d.Svc.FindClients(t.Context(), p, service.ClientQuery{Text: "match", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	// By id, the admin comes first ("admin" < "c-"), then c-00000 on: the
	// scan's last client is the one before c-(MaxClientSearchScan-1).
	wantNext := fmt.Sprintf("c-%05d", service.MaxClientSearchScan-2)
	if !page.Partial || len(page.Clients) != 0 || page.Next != wantNext {
		t.Fatalf("first page: partial %v, %d clients, next %q; want partial, none, next %q", page.Partial, len(page.Clients), page.Next, wantNext)
	}
	page, err = d.Svc.FindClients(t.Context(), p, service.ClientQuery{Text: "match", Limit: 10, After: page.Next})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("c-%05d", service.MaxClientSearchScan+50)
	if page.Partial || page.Next != "" || len(page.Clients) != 1 || page.Clients[0].ID != want {
		t.Fatalf("second page: partial %v, next %q, %d clients; want the one match %s", page.Partial, page.Next, len(page.Clients), want)
	}
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
