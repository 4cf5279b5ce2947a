package server_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
)

func TestClientsCRUD(t *testing.T) {
	d := newDC(t, testdc.Options{})
	admin := d.AdminToken()
	_, adminClaims := decodeJWT(t, admin)
	tenant := adminClaims["owner_tuid"].(string)

	body := map[string]any{
		"type": "api_client", "tenant_id": tenant,
		"token_endpoint_auth_method": "client_secret_basic",
		"data":                       map[string]any{"client_name": "My app", "n": 12345678901234567},
	}
	r := d.Call(http.MethodPost, "/api/2/clients", admin, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var c api.Client
	r.JSON(t, &c)
	if r.Header.Get("Location") != "/api/2/clients/"+c.ClientID || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers = %v", r.Header)
	}
	if !uuidRE.MatchString(c.ClientID) || len(c.ClientSecret) < 43 || strings.Trim(c.ClientSecret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
		t.Errorf("id %q / secret of %d chars", c.ClientID, len(c.ClientSecret))
	}
	if c.Type != "api_client" || c.TenantID != tenant || c.Status != "enabled" || c.CreatedBy != d.Admin.ID ||
		c.ClientSecretExpiresAt == nil || *c.ClientSecretExpiresAt != 0 || c.CreatedAt.IsZero() {
		t.Errorf("created = %+v", c)
	}
	if string(c.Data) != `{"client_name":"My app","n":12345678901234567}` {
		t.Errorf("data = %s", c.Data)
	}

	r = d.Call(http.MethodGet, "/api/2/clients/"+c.ClientID, admin, nil)
	if r.Status != 200 || strings.Contains(string(r.Body), "client_secret\":\"") || strings.Contains(string(r.Body), c.ClientSecret) {
		t.Fatalf("get: %d %s", r.Status, r.Body)
	}

	r = d.Call(http.MethodGet, "/api/2/clients", admin, nil)
	var list api.ClientList
	r.JSON(t, &list)
	if r.Status != 200 || len(list.Items) != 2 {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	for _, it := range list.Items {
		if it.ClientSecret != "" {
			t.Error("list shows a secret")
		}
	}

	r = d.Call(http.MethodPut, "/api/2/clients/"+c.ClientID, admin, map[string]any{"data": map[string]string{"client_name": "Renamed"}})
	var upd api.Client
	r.JSON(t, &upd)
	if r.Status != 200 || string(upd.Data) != `{"client_name":"Renamed"}` || upd.Status != "enabled" {
		t.Errorf("update data: %d %s", r.Status, r.Body)
	}
	r = d.Call(http.MethodPut, "/api/2/clients/"+c.ClientID, admin, map[string]any{"status": "disabled"})
	r.JSON(t, &upd)
	if r.Status != 200 || upd.Status != "disabled" || string(upd.Data) != `{"client_name":"Renamed"}` {
		t.Errorf("update status: %d %s", r.Status, r.Body)
	}

	if r = d.Call(http.MethodDelete, "/api/2/clients/"+c.ClientID, admin, nil); r.Status != 204 {
		t.Errorf("delete: %d %s", r.Status, r.Body)
	}
	if r = d.Call(http.MethodDelete, "/api/2/clients/"+c.ClientID, admin, nil); r.Status != 404 {
		t.Errorf("delete again: %d %s", r.Status, r.Body)
	}
	if r = d.Call(http.MethodGet, "/api/2/clients/"+c.ClientID, admin, nil); r.Status != 404 || r.APIError(t).Code != "notFound" {
		t.Errorf("get deleted: %d %s", r.Status, r.Body)
	}
}

func TestClientsPaging(t *testing.T) {
	d := newDC(t, testdc.Options{})
	for i := 0; i < 5; i++ {
		d.CreateClient(api.CreateClientRequest{})
	}
	admin := d.AdminToken()
	seen := map[string]bool{}
	after := ""
	for pages := 0; ; pages++ {
		if pages > 6 {
			t.Fatal("paging does not end")
		}
		path := "/api/2/clients?limit=2"
		if after != "" {
			path += "&after=" + after
		}
		var list api.ClientList
		d.Call(http.MethodGet, path, admin, nil).JSON(t, &list)
		for _, it := range list.Items {
			if seen[it.ClientID] {
				t.Fatalf("%s listed twice", it.ClientID)
			}
			seen[it.ClientID] = true
		}
		if list.Paging == nil {
			break
		}
		after = list.Paging.Cursors.After
	}
	if len(seen) != 6 {
		t.Errorf("listed %d clients, want 6", len(seen))
	}
	for _, q := range []string{"limit=0", "limit=-1", "limit=x", "limit=1001"} {
		if r := d.Call(http.MethodGet, "/api/2/clients?"+q, admin, nil); r.Status != 400 {
			t.Errorf("%s: %d", q, r.Status)
		}
	}
}

func TestClientsValidation(t *testing.T) {
	d := newDC(t, testdc.Options{})
	admin := d.AdminToken()
	c, _ := d.CreateClient(api.CreateClientRequest{})
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"empty body", "POST", "/api/2/clients", "", 400},
		{"not JSON", "POST", "/api/2/clients", "{", 400},
		{"unknown field", "POST", "/api/2/clients", `{"type":"api_client","colour":"red"}`, 400},
		{"trailing data", "POST", "/api/2/clients", `{"type":"api_client"} {}`, 400},
		{"wrong type", "POST", "/api/2/clients", `{"type":"user"}`, 400},
		{"missing type", "POST", "/api/2/clients", `{}`, 400},
		{"bad auth method", "POST", "/api/2/clients", `{"type":"api_client","token_endpoint_auth_method":"private_key_jwt"}`, 400},
		{"bad role", "POST", "/api/2/clients", `{"type":"api_client","role":"root"}`, 400},
		{"data not an object", "POST", "/api/2/clients", `{"type":"api_client","data":[1]}`, 400},
		{"client_name not a string", "POST", "/api/2/clients", `{"type":"api_client","data":{"client_name":1}}`, 400},
		{"field of wrong type", "POST", "/api/2/clients", `{"type":7}`, 400},
		{"unknown tenant", "POST", "/api/2/clients", `{"type":"api_client","tenant_id":"00000000-0000-4000-8000-000000000000"}`, 404},
		{"bad status", "PUT", "/api/2/clients/" + c.ClientID, `{"status":"paused"}`, 400},
		{"null data", "PUT", "/api/2/clients/" + c.ClientID, `{"data":null}`, 400},
		{"update unknown field", "PUT", "/api/2/clients/" + c.ClientID, `{"client_id":"x"}`, 400},
		{"oversized", "POST", "/api/2/clients", `{"type":"api_client","data":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`, 413},
		{"PATCH", "PATCH", "/api/2/clients/" + c.ClientID, `{}`, 405},
		{"unknown route", "GET", "/api/2/nothing", "", 404},
		{"regenerate unknown", "POST", "/api/2/clients/nope/secret", "", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			r := d.Call(tc.method, tc.path, admin, body)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			e := r.APIError(t)
			if e.Code == "" || e.Message == "" || e.Domain != "AccountServer" {
				t.Errorf("error body = %s", r.Body)
			}
			if tc.status == 400 && (e.Code != "validationError" || e.Details == nil) {
				t.Errorf("error body = %s", r.Body)
			}
		})
	}
}

func TestAuthorization(t *testing.T) {
	d := newDC(t, testdc.Options{})
	self, selfCred := d.CreateClient(api.CreateClientRequest{})
	peer, _ := d.CreateClient(api.CreateClientRequest{})
	subAdmin, subAdminCred := d.CreateClient(api.CreateClientRequest{Role: "tenant_admin"})
	tok := d.Token(selfCred).AccessToken

	forbidden := []struct{ name, method, path, body string }{
		{"get a peer", "GET", "/api/2/clients/" + peer.ClientID, ""},
		{"list", "GET", "/api/2/clients", ""},
		{"create", "POST", "/api/2/clients", `{"type":"api_client"}`},
		{"disable itself", "PUT", "/api/2/clients/" + self.ClientID, `{"status":"disabled"}`},
		{"regenerate itself", "POST", "/api/2/clients/" + self.ClientID + "/secret", ""},
		{"delete a peer", "DELETE", "/api/2/clients/" + peer.ClientID, ""},
	}
	for _, tc := range forbidden {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			r := d.Call(tc.method, tc.path, tok, body)
			if r.Status != 403 || r.APIError(t).Code != "authorizationFailed" {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if wa := r.Header.Get("WWW-Authenticate"); !strings.Contains(wa, `error="insufficient_scope"`) {
				t.Errorf("WWW-Authenticate = %q", wa)
			}
		})
	}
	t.Run("a client reads itself", func(t *testing.T) {
		r := d.Call("GET", "/api/2/clients/"+self.ClientID, tok, nil)
		var got api.Client
		r.JSON(t, &got)
		if r.Status != 200 || got.ClientID != self.ClientID {
			t.Errorf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("an admin created by an admin manages the tenant", func(t *testing.T) {
		at := d.Token(subAdminCred).AccessToken
		if r := d.Call("PUT", "/api/2/clients/"+peer.ClientID, at, map[string]string{"status": "disabled"}); r.Status != 200 {
			t.Errorf("%d %s", r.Status, r.Body)
		}
		_ = subAdmin
	})
	t.Run("forbidden leaves no trace", func(t *testing.T) {
		var got api.Client
		d.Call("GET", "/api/2/clients/"+self.ClientID, d.AdminToken(), nil).JSON(t, &got)
		if got.Status != "enabled" {
			t.Errorf("status changed to %s", got.Status)
		}
	})
	t.Run("every refusal is audited once", func(t *testing.T) {
		var log api.AuditList
		d.Call("GET", "/api/2/audit?limit=1000", d.AdminToken(), nil).JSON(t, &log)
		denied := map[string]int{}
		for _, e := range log.Items {
			if e.Outcome == "denied" {
				if e.ActorID != self.ClientID {
					t.Errorf("denied entry of %s, want %s: %+v", e.ActorID, self.ClientID, e)
				}
				denied[e.Action]++
			}
		}
		want := map[string]int{"client.read": 1, "client.list": 1, "client.create": 1, "client.disable": 1, "client.regenerate_secret": 1, "client.delete": 1}
		if !reflect.DeepEqual(denied, want) {
			t.Errorf("denied entries by action = %v, want %v", denied, want)
		}
	})
}

// The name rule is the service's, so the API enforces what the console
// does: at most 200 characters (not bytes), and no name at all is fine.
func TestClientNameRules(t *testing.T) {
	d := newDC(t, testdc.Options{})
	admin := d.AdminToken()
	existing, _ := d.CreateClient(api.CreateClientRequest{})
	named := func(name string) string {
		b, _ := json.Marshal(map[string]any{"type": "api_client", "data": map[string]string{"client_name": name}})
		return string(b)
	}
	renamed := func(name string) string {
		b, _ := json.Marshal(map[string]any{"data": map[string]string{"client_name": name}})
		return string(b)
	}
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"no name", "POST", "/api/2/clients", `{"type":"api_client"}`, 201},
		{"no data", "POST", "/api/2/clients", `{"type":"api_client","data":{}}`, 201},
		{"200 characters", "POST", "/api/2/clients", named(strings.Repeat("a", 200)), 201},
		{"200 characters of 3 bytes", "POST", "/api/2/clients", named(strings.Repeat("€", 200)), 201},
		{"201 characters", "POST", "/api/2/clients", named(strings.Repeat("a", 201)), 400},
		{"201 characters of 3 bytes", "POST", "/api/2/clients", named(strings.Repeat("€", 201)), 400},
		{"rename to 200", "PUT", "/api/2/clients/" + existing.ClientID, renamed(strings.Repeat("b", 200)), 200},
		{"rename to 201", "PUT", "/api/2/clients/" + existing.ClientID, renamed(strings.Repeat("b", 201)), 400},
		// A name cannot hide control characters or reorder how it reads.
		{"right-to-left script", "POST", "/api/2/clients", named("مزامنة"), 201},
		{"a newline", "POST", "/api/2/clients", named("evil\nlive"), 400},
		{"a NUL", "POST", "/api/2/clients", named("evil\x00"), 400},
		{"a right-to-left override", "POST", "/api/2/clients", named("invoice\u202Efdp.exe"), 400},
		{"an isolate", "POST", "/api/2/clients", named("a\u2066b\u2069"), 400},
		{"rename with an override", "PUT", "/api/2/clients/" + existing.ClientID, renamed("x\u202Ey"), 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := d.Call(tc.method, tc.path, admin, tc.body)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.status == 400 {
				if e := r.APIError(t); e.Code != "validationError" || !strings.Contains(e.Message, "client_name") {
					t.Errorf("error = %+v", e)
				}
			}
		})
	}
	var got api.Client
	d.Call("GET", "/api/2/clients/"+existing.ClientID, admin, nil).JSON(t, &got)
	if string(got.Data) != `{"client_name":"`+strings.Repeat("b", 200)+`"}` {
		t.Errorf("after a refused rename the data is %s, want the 200-character name", got.Data)
	}
}

func TestClientsSearch(t *testing.T) {
	d := newDC(t, testdc.Options{})
	admin := d.AdminToken()
	create := func(name string) api.Client {
		req := api.CreateClientRequest{}
		if name != "" {
			req.Data = json.RawMessage(`{"client_name":"` + name + `"}`)
		}
		c, _ := d.CreateClient(req)
		return c
	}
	billing, worker, reports, unnamed := create("Billing App"), create("billing-worker"), create("Reports"), create("")
	// A tenant below, with a client of the same name: searched only with
	// tenant_id, as listing is.
	r := d.Call("POST", "/api/2/tenants", admin, map[string]string{"name": "Sub", "kind": "customer"})
	var sub api.Tenant
	r.JSON(t, &sub)
	if r.Status != 201 {
		t.Fatalf("create tenant: %d %s", r.Status, r.Body)
	}
	subReq := api.CreateClientRequest{TenantID: sub.ID, Data: json.RawMessage(`{"client_name":"Billing below"}`)}
	below, _ := d.CreateClient(subReq)

	ids := func(cs ...api.Client) []string {
		out := []string{}
		for _, c := range cs {
			out = append(out, c.ClientID)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name, query string
		want        []string
	}{
		{"by name", "q=billing", ids(billing, worker)},
		{"ignoring case", "q=BILLING", ids(billing, worker)},
		{"a substring", "q=port", ids(reports)},
		{"by id", "q=" + strings.ToUpper(unnamed.ClientID[:13]), ids(unnamed)},
		{"nothing matches", "q=nothing-like-it", ids()},
		{"empty is a plain list", "q=", ids(billing, worker, reports, unnamed, creds2client(d.Admin))},
		{"in a tenant below", "tenant_id=" + sub.ID + "&q=billing", ids(below)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := d.Call("GET", "/api/2/clients?"+tc.query, admin, nil)
			var list api.ClientList
			r.JSON(t, &list)
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if got := ids(list.Items...); !slices.Equal(got, tc.want) {
				t.Errorf("found %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("paged", func(t *testing.T) {
		var seen []api.Client
		after := ""
		for pages := 1; ; pages++ {
			path := "/api/2/clients?q=billing&limit=1"
			if after != "" {
				path += "&after=" + after
			}
			var list api.ClientList
			d.Call("GET", path, admin, nil).JSON(t, &list)
			if len(list.Items) > 1 {
				t.Fatalf("page %d holds %d clients, limit 1", pages, len(list.Items))
			}
			seen = append(seen, list.Items...)
			if list.Paging == nil {
				break
			}
			if pages > 3 {
				t.Fatal("paging does not end")
			}
			after = list.Paging.Cursors.After
		}
		if got := ids(seen...); !slices.Equal(got, ids(billing, worker)) {
			t.Errorf("pages found %v", got)
		}
	})
	t.Run("refused", func(t *testing.T) {
		if r := d.Call("GET", "/api/2/clients?q="+strings.Repeat("x", 201), admin, nil); r.Status != 400 || r.APIError(t).Code != "validationError" {
			t.Errorf("a 201-character query: %d %s", r.Status, r.Body)
		}
		_, plain := d.CreateClient(api.CreateClientRequest{})
		if r := d.Call("GET", "/api/2/clients?q=billing", d.Token(plain).AccessToken, nil); r.Status != 403 {
			t.Errorf("a search by a client that is no admin: %d %s", r.Status, r.Body)
		}
	})
}

// creds2client names the bootstrap admin as a listed client, by its id.
func creds2client(c testdc.Creds) api.Client { return api.Client{ClientID: c.ID} }

func TestDiscoveryAndKeys(t *testing.T) {
	d := newDC(t, testdc.Options{})
	for _, path := range []string{"/bc/.well-known/openid-configuration", "/.well-known/openid-configuration"} {
		r := d.Call("GET", path, "", nil)
		var m map[string]any
		r.JSON(t, &m)
		if r.Status != 200 || m["issuer"] != d.URL+"/bc" || m["token_endpoint"] != d.URL+"/bc/idp/token" || m["jwks_uri"] != d.URL+"/bc/idp/keys" {
			t.Errorf("%s: %d %s", path, r.Status, r.Body)
		}
		if strings.HasSuffix(m["issuer"].(string), "/") {
			t.Error("issuer ends in a slash")
		}
	}
	kid, _ := d.SigningKey()
	for _, path := range []string{"/bc/idp/keys", "/api/2/idp/keys"} {
		r := d.Call("GET", path, "", nil)
		if r.Status != 200 || !strings.Contains(r.Header.Get("Cache-Control"), "max-age=") {
			t.Fatalf("%s: %d %v", path, r.Status, r.Header)
		}
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		r.JSON(t, &set)
		if len(set.Keys) != 1 {
			t.Fatalf("keys = %s", r.Body)
		}
		k := set.Keys[0]
		if k["kty"] != "RSA" || k["use"] != "sig" || k["alg"] != "RS256" || k["kid"] != kid || k["e"] != "AQAB" || k["n"] == nil {
			t.Errorf("key = %v", k)
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWKS publishes private member %q", private)
			}
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := d.Call("GET", path, "", nil); r.Status != 200 {
			t.Errorf("%s: %d", path, r.Status)
		}
	}
	_ = json.Valid
}

// Field names match exactly and once: encoding/json alone would take
// {"TYPE":...} for "type" and let a repeated member win.
func TestClientsJSONFieldsExact(t *testing.T) {
	d := newDC(t, testdc.Options{})
	admin := d.AdminToken()
	c, _ := d.CreateClient(api.CreateClientRequest{})
	for name, tc := range map[string]struct{ method, path, body string }{
		"case-folded field": {"POST", "/api/2/clients", `{"TYPE":"api_client"}`},
		"repeated field":    {"POST", "/api/2/clients", `{"type":"api_client","type":"api_client"}`},
		"repeated status":   {"PUT", "/api/2/clients/" + c.ClientID, `{"status":"enabled","status":"disabled"}`},
	} {
		if r := d.Call(tc.method, tc.path, admin, tc.body); r.Status != 400 || r.APIError(t).Code != "validationError" {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
}
