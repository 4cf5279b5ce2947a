package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
)

// A tenant admin sees its own tenant and the tenants below it, never a
// tenant above it: there, clients answer 404, exactly like clients that do
// not exist. (Siblings are tested in tenants_api_test.go.)
func TestTenantIsolation(t *testing.T) {
	d := newDC(t, testdc.Options{})
	ctx := t.Context()
	_, rootClaims := decodeJWT(t, d.AdminToken())
	now := time.Now().UTC()
	other := gatehouse.Tenant{ID: uuid.NewString(), ParentID: rootClaims["owner_tuid"].(string), Name: "customer", Kind: "customer", Enabled: true, Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := d.Store.CreateTenant(ctx, other, gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	otherAdmin := testdc.Creds{ID: uuid.NewString(), Secret: gatehouse.NewSecret()}
	err := d.Store.CreateClient(ctx, gatehouse.Client{
		ID: otherAdmin.ID, TenantID: other.ID, AuthMethod: gatehouse.AuthSecretBasic, Role: gatehouse.RoleTenantAdmin,
		Status: gatehouse.StatusEnabled, Data: []byte(`{}`), SecretHash: gatehouse.HashSecret(otherAdmin.ID, otherAdmin.Secret),
		Generation: 1, CreatedAt: now, CreatedBy: otherAdmin.ID, UpdatedAt: now,
	}, gatehouse.NoAudit)
	if err != nil {
		t.Fatal(err)
	}
	mine, _ := d.CreateClient(api.CreateClientRequest{})
	rootAdmin := d.AdminToken()
	otherTok := d.Token(otherAdmin).AccessToken

	tests := []struct {
		name, method, path, bearer, body string
	}{
		{"reach up to the parent tenant", "GET", "/api/2/clients/" + mine.ClientID, otherTok, ""},
		{"disable a client of the parent tenant", "PUT", "/api/2/clients/" + mine.ClientID, otherTok, `{"status":"disabled"}`},
		{"regenerate a client of the parent tenant", "POST", "/api/2/clients/" + mine.ClientID + "/secret", otherTok, ""},
		{"delete a client of the parent tenant", "DELETE", "/api/2/clients/" + mine.ClientID, otherTok, ""},
		{"create in the parent tenant", "POST", "/api/2/clients", otherTok, `{"type":"api_client","tenant_id":"` + mine.TenantID + `"}`},
		{"list the parent tenant", "GET", "/api/2/clients?tenant_id=" + mine.TenantID, otherTok, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			r := d.Call(tc.method, tc.path, tc.bearer, body)
			if r.Status != http.StatusNotFound || r.APIError(t).Code != "notFound" {
				t.Errorf("%d %s", r.Status, r.Body)
			}
		})
	}
	var list api.ClientList
	d.Call("GET", "/api/2/clients", otherTok, nil).JSON(t, &list)
	if len(list.Items) != 1 || list.Items[0].ClientID != otherAdmin.ID {
		t.Errorf("other tenant lists %+v", list.Items)
	}
	if r := d.Call("GET", "/api/2/clients/"+otherAdmin.ID, otherTok, nil); r.Status != 200 {
		t.Errorf("other admin reads itself: %d", r.Status)
	}
	// Downward, the root's admin sees the child's clients, but lists them
	// only when it names the child.
	if r := d.Call("GET", "/api/2/clients/"+otherAdmin.ID, rootAdmin, nil); r.Status != 200 {
		t.Errorf("the root admin reads a client of the child tenant: %d %s", r.Status, r.Body)
	}
	list = api.ClientList{}
	d.Call("GET", "/api/2/clients?tenant_id="+other.ID, rootAdmin, nil).JSON(t, &list)
	if len(list.Items) != 1 || list.Items[0].ClientID != otherAdmin.ID {
		t.Errorf("the root admin lists the child tenant: %+v", list.Items)
	}
	list = api.ClientList{}
	d.Call("GET", "/api/2/clients", rootAdmin, nil).JSON(t, &list)
	for _, c := range list.Items {
		if c.TenantID != mine.TenantID {
			t.Errorf("the root's own list holds client %s of tenant %s", c.ClientID, c.TenantID)
		}
	}
	if r := d.Call("GET", "/api/2/clients/"+mine.ClientID, d.Token(otherAdmin).AccessToken, nil); r.Status != 404 {
		t.Errorf("isolation did not hold after the tests: %d", r.Status)
	}
}
