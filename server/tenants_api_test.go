package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// rootTenantID is the tenant of the bootstrap admin.
func (d *dc) rootTenantID() string {
	d.t.Helper()
	_, claims := decodeJWT(d.t, d.AdminToken())
	return claims["owner_tuid"].(string)
}

// newTenant creates a tenant as the holder of bearer, failing the test
// otherwise.
func (d *dc) newTenant(bearer, parentID, name, kind string) api.Tenant {
	d.t.Helper()
	r := d.Call(http.MethodPost, "/api/2/tenants", bearer, api.CreateTenantRequest{ParentID: parentID, Name: name, Kind: kind})
	if r.Status != http.StatusCreated {
		d.t.Fatalf("create tenant %q below %q: %d %s", name, parentID, r.Status, r.Body)
	}
	var t api.Tenant
	r.JSON(d.t, &t)
	return t
}

func (d *dc) getTenant(bearer, id string) api.Tenant {
	d.t.Helper()
	r := d.Call(http.MethodGet, "/api/2/tenants/"+id, bearer, nil)
	if r.Status != http.StatusOK {
		d.t.Fatalf("get tenant %s: %d %s", id, r.Status, r.Body)
	}
	var t api.Tenant
	r.JSON(d.t, &t)
	return t
}

// setTenantEnabled enables or disables a tenant at its current version.
func (d *dc) setTenantEnabled(bearer, id string, enabled bool) api.Tenant {
	d.t.Helper()
	cur := d.getTenant(bearer, id)
	r := d.Call(http.MethodPut, "/api/2/tenants/"+id, bearer, map[string]any{"version": cur.Version, "enabled": enabled})
	if r.Status != http.StatusOK {
		d.t.Fatalf("set tenant %s enabled=%v: %d %s", id, enabled, r.Status, r.Body)
	}
	var t api.Tenant
	r.JSON(d.t, &t)
	if t.Enabled != enabled || t.Version != cur.Version+1 {
		d.t.Fatalf("tenant after set enabled=%v: %+v (was version %d)", enabled, t, cur.Version)
	}
	return t
}

// clientIn creates a client in a tenant as the holder of bearer.
func (d *dc) clientIn(bearer, tenantID, role string) (api.Client, testdc.Creds) {
	d.t.Helper()
	r := d.Call(http.MethodPost, "/api/2/clients", bearer, api.CreateClientRequest{Type: "api_client", TenantID: tenantID, Role: role})
	if r.Status != http.StatusCreated {
		d.t.Fatalf("create client in %s: %d %s", tenantID, r.Status, r.Body)
	}
	var c api.Client
	r.JSON(d.t, &c)
	return c, testdc.Creds{ID: c.ClientID, Secret: c.ClientSecret}
}

// failedLogins keeps a test's refused token requests under the rate
// limit, which counts failures per address (20 a minute, sliding): every
// few failures it moves the data center's clock past two windows, so the
// test sees invalid_client every time rather than 429. Tokens live two
// hours, far longer than the clock moves.
type failedLogins struct {
	d *dc
	n int
}

func (f *failedLogins) expect(t *testing.T, c testdc.Creds, what string) {
	t.Helper()
	if f.n > 0 && f.n%10 == 0 {
		f.d.Clock.Advance(2*time.Minute + time.Second)
	}
	f.n++
	r := f.d.PostForm("/bc/idp/token", url.Values{"grant_type": {"client_credentials"}}, testkit.Basic(c.ID, c.Secret))
	var e api.OAuthError
	r.JSON(t, &e)
	if r.Status != http.StatusUnauthorized || e.Error != "invalid_client" {
		t.Errorf("%s: token request of %s = %d %s, want 401 invalid_client", what, c.ID, r.Status, r.Body)
	}
}

// bearerCode returns "" when tok is accepted (the client reads itself), or
// the error code it is refused with.
func (d *dc) bearerCode(t *testing.T, clientID, tok string) string {
	t.Helper()
	r := d.Call(http.MethodGet, "/api/2/clients/"+clientID, tok, nil)
	switch r.Status {
	case http.StatusOK:
		return ""
	case http.StatusUnauthorized:
		return r.APIError(t).Code
	}
	t.Fatalf("GET own client %s: %d %s", clientID, r.Status, r.Body)
	return ""
}

// Disabling a tenant disables every client of its subtree at once, three
// levels deep, without rewriting a client; enabling it again brings back
// exactly the clients that were enabled, with new tokens only.
func TestTenantCascade(t *testing.T) {
	d := newDC(t, testdc.Options{})
	admin := d.AdminToken()
	root := d.rootTenantID()
	partner := d.newTenant(admin, root, "Partner", "partner")
	customer := d.newTenant(admin, partner.ID, "Customer", "customer")
	unit := d.newTenant(admin, customer.ID, "Unit", "unit")
	levels := []api.Tenant{partner, customer, unit}
	// A sibling of the partner, whose client must not notice anything.
	bystanderTenant := d.newTenant(admin, root, "Bystander", "partner")
	_, bystander := d.clientIn(admin, bystanderTenant.ID, "")
	bystanderTok := d.Token(bystander).AccessToken

	type member struct {
		cred     testdc.Creds
		tenant   string
		disabled bool   // individually, before the tenant was
		tok      string // obtained before the tenant was disabled
	}
	const n = 50
	members := make([]*member, n)
	for i := range n {
		c, cred := d.clientIn(admin, levels[i%3].ID, "")
		m := &member{cred: cred, tenant: c.TenantID, disabled: i%10 == 3}
		if m.disabled {
			r := d.Call(http.MethodPut, "/api/2/clients/"+cred.ID, admin, map[string]string{"status": "disabled"})
			if r.Status != http.StatusOK {
				t.Fatalf("disable client %d: %d %s", i, r.Status, r.Body)
			}
		} else {
			m.tok = d.Token(cred).AccessToken
			if code := d.bearerCode(t, cred.ID, m.tok); code != "" {
				t.Fatalf("client %d before the cascade: %s", i, code)
			}
		}
		members[i] = m
	}
	logins := &failedLogins{d: d}

	d.setTenantEnabled(admin, partner.ID, false)
	// At once: no sleep, no retry.
	for i, m := range members {
		if m.tok != "" {
			if code := d.bearerCode(t, m.cred.ID, m.tok); code != "clientDisabled" {
				t.Errorf("client %d (tenant %s) with the partner disabled: token answers %q, want clientDisabled", i, m.tenant, code)
			}
		}
		logins.expect(t, m.cred, fmt.Sprintf("client %d with the partner disabled", i))
	}
	if code := d.bearerCode(t, bystander.ID, bystanderTok); code != "" {
		t.Errorf("the bystander's token answers %q with another partner disabled", code)
	}
	// No client row was rewritten: each keeps the status it had.
	for i, m := range members {
		var c api.Client
		r := d.Call(http.MethodGet, "/api/2/clients/"+m.cred.ID, admin, nil)
		r.JSON(t, &c)
		want := map[bool]string{false: "enabled", true: "disabled"}[m.disabled]
		if r.Status != http.StatusOK || c.Status != want {
			t.Errorf("client %d while its tenant is disabled: %d status %q, want %q", i, r.Status, c.Status, want)
		}
	}

	d.setTenantEnabled(admin, partner.ID, true)
	for i, m := range members {
		if m.disabled {
			logins.expect(t, m.cred, fmt.Sprintf("individually disabled client %d after the partner came back", i))
			continue
		}
		if code := d.bearerCode(t, m.cred.ID, m.tok); code != "tokenRevoked" {
			t.Errorf("client %d: the token from before the disabling answers %q, want tokenRevoked", i, code)
		}
		if code := d.bearerCode(t, m.cred.ID, d.Token(m.cred).AccessToken); code != "" {
			t.Errorf("client %d: a new token after re-enabling answers %q", i, code)
		}
	}
	if code := d.bearerCode(t, bystander.ID, bystanderTok); code != "" {
		t.Errorf("the bystander's token answers %q", code)
	}

	// Each change is in the acting admin's audit log.
	var audit api.AuditList
	d.Call(http.MethodGet, "/api/2/audit?target="+partner.ID, admin, nil).JSON(t, &audit)
	var actions []string
	for _, e := range audit.Items {
		actions = append(actions, e.Action)
	}
	if want := []string{"tenant.enable", "tenant.disable", "tenant.create"}; !slices.Equal(actions, want) {
		t.Errorf("audit of the partner = %q, want %q", actions, want)
	}
}

// Disabling a tenant in the middle of the tree reaches down, not up.
func TestTenantDisableReachesDownOnly(t *testing.T) {
	d := newDC(t, testdc.Options{})
	admin := d.AdminToken()
	partner := d.newTenant(admin, d.rootTenantID(), "Partner", "partner")
	customer := d.newTenant(admin, partner.ID, "Customer", "customer")
	unit := d.newTenant(admin, customer.ID, "Unit", "unit")
	var creds3 []testdc.Creds
	var toks []string
	for _, tn := range []api.Tenant{partner, customer, unit} {
		_, c := d.clientIn(admin, tn.ID, "")
		creds3 = append(creds3, c)
		toks = append(toks, d.Token(c).AccessToken)
	}
	d.setTenantEnabled(admin, customer.ID, false)
	want := []string{"", "clientDisabled", "clientDisabled"}
	for i := range creds3 {
		if code := d.bearerCode(t, creds3[i].ID, toks[i]); code != want[i] {
			t.Errorf("level %d with the customer disabled: %q, want %q", i+1, code, want[i])
		}
	}
	// A disabled tenant stays manageable from above, and its own state is
	// what the API shows: the unit is still enabled itself.
	if u := d.getTenant(admin, unit.ID); !u.Enabled {
		t.Errorf("the unit shows enabled=false; only its parent was disabled")
	}
	// A tenant_admin of the disabled customer is locked out like any
	// client of it.
	_, custAdmin := d.clientIn(admin, customer.ID, "tenant_admin")
	(&failedLogins{d: d}).expect(t, custAdmin, "admin of the disabled customer")
}

// Sibling tenants cannot see each other, whatever the route: every
// attempt answers 404, as if the other did not exist. Nor can a tenant
// admin see above its tenant.
func TestTenantSiblingIsolation(t *testing.T) {
	d := newDC(t, testdc.Options{})
	root := d.rootTenantID()
	admin := d.AdminToken()
	a := d.newTenant(admin, root, "A", "partner")
	b := d.newTenant(admin, root, "B", "partner")
	aAdmin, aCred := d.clientIn(admin, a.ID, "tenant_admin")
	bAdmin, bCred := d.clientIn(admin, b.ID, "tenant_admin")
	aTok, bTok := d.Token(aCred).AccessToken, d.Token(bCred).AccessToken

	// Each admin works in its own subtree: the parent defaults to its own
	// tenant, and clients can be created, read and listed below it.
	a1 := d.newTenant(aTok, "", "A1", "customer")
	if a1.ParentID != a.ID {
		t.Fatalf("A1's parent = %q, want A %q", a1.ParentID, a.ID)
	}
	b1 := d.newTenant(bTok, b.ID, "B1", "customer")
	a1Client, _ := d.clientIn(aTok, a1.ID, "")
	var list api.ClientList
	if r := d.Call(http.MethodGet, "/api/2/clients?tenant_id="+a1.ID, aTok, nil); r.Status != http.StatusOK {
		t.Fatalf("A lists A1's clients: %d %s", r.Status, r.Body)
	} else {
		r.JSON(t, &list)
	}
	if len(list.Items) != 1 || list.Items[0].ClientID != a1Client.ClientID {
		t.Errorf("A's list of A1 = %+v", list.Items)
	}
	if got := d.getTenant(aTok, a1.ID); got.ID != a1.ID {
		t.Errorf("A reads A1: %+v", got)
	}

	type side struct{ name, tok string }
	cases := []struct {
		from                  side
		tenant, sub, clientID string
	}{
		{side{"A", aTok}, b.ID, b1.ID, bAdmin.ClientID},
		{side{"B", bTok}, a.ID, a1.ID, aAdmin.ClientID},
	}
	for _, tc := range cases {
		for _, target := range []string{tc.tenant, tc.sub, root} {
			reqs := []struct {
				name, method, path string
				body               any
			}{
				{"get tenant", "GET", "/api/2/tenants/" + target, nil},
				{"list children", "GET", "/api/2/tenants/" + target + "/children", nil},
				{"rename tenant", "PUT", "/api/2/tenants/" + target, map[string]any{"version": 1, "name": "pwned"}},
				{"disable tenant", "PUT", "/api/2/tenants/" + target, map[string]any{"version": 1, "enabled": false}},
				{"create tenant below", "POST", "/api/2/tenants", map[string]any{"parent_id": target, "name": "x", "kind": "customer"}},
				{"create client in", "POST", "/api/2/clients", map[string]any{"type": "api_client", "tenant_id": target}},
				{"list clients of", "GET", "/api/2/clients?tenant_id=" + target, nil},
			}
			for _, rq := range reqs {
				r := d.Call(rq.method, rq.path, tc.from.tok, rq.body)
				if r.Status != http.StatusNotFound || r.APIError(t).Code != "notFound" {
					t.Errorf("%s: %s %s: %d %s, want 404 notFound", tc.from.name, rq.name, target, r.Status, r.Body)
				}
			}
		}
		for _, path := range []string{"/api/2/clients/" + tc.clientID, "/api/2/clients/" + tc.clientID + "/secret"} {
			method := map[bool]string{false: "GET", true: "POST"}[strings.HasSuffix(path, "/secret")]
			if r := d.Call(method, path, tc.from.tok, nil); r.Status != http.StatusNotFound {
				t.Errorf("%s: %s %s: %d %s, want 404", tc.from.name, method, path, r.Status, r.Body)
			}
		}
	}
	// Nothing above changed.
	for _, id := range []string{a.ID, b.ID, b1.ID, a1.ID} {
		if got := d.getTenant(admin, id); got.Version != 1 || !got.Enabled || got.Name == "pwned" {
			t.Errorf("tenant %s after the attempts: %+v", id, got)
		}
	}

	// A tenant admin may disable a tenant below its own, but not its own:
	// it would lock itself out.
	r := d.Call(http.MethodPut, "/api/2/tenants/"+a.ID, aTok, map[string]any{"version": 1, "enabled": false})
	if r.Status != http.StatusForbidden || r.APIError(t).Code != "authorizationFailed" {
		t.Errorf("A disables its own tenant: %d %s, want 403 authorizationFailed", r.Status, r.Body)
	}
	if r := d.Call(http.MethodPut, "/api/2/tenants/"+a.ID, aTok, map[string]any{"version": 1, "name": "A renamed"}); r.Status != http.StatusOK {
		t.Errorf("A renames its own tenant: %d %s", r.Status, r.Body)
	}
	if got := d.setTenantEnabled(aTok, a1.ID, false); got.Enabled {
		t.Errorf("A1 after A disabled it: %+v", got)
	}
	// A client without the admin role sees no tenant API at all.
	_, plain := d.clientIn(admin, a.ID, "")
	plainTok := d.Token(plain).AccessToken
	if r := d.Call(http.MethodGet, "/api/2/tenants/"+a.ID, plainTok, nil); r.Status != http.StatusForbidden {
		t.Errorf("a plain client reads its tenant: %d %s, want 403", r.Status, r.Body)
	}
	if r := d.Call(http.MethodGet, "/api/2/tenants/"+a1.ID, plainTok, nil); r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
		t.Errorf("a plain client reads a tenant below: %d %s", r.Status, r.Body)
	}
	if r := d.Call(http.MethodGet, "/api/2/clients/"+a1Client.ClientID, plainTok, nil); r.Status != http.StatusNotFound {
		t.Errorf("a plain client reads a client below its tenant: %d %s, want 404", r.Status, r.Body)
	}
}

// An update must name the version it read; a stale one answers 409, and of
// concurrent updates from one version exactly one wins.
func TestTenantOptimisticLock(t *testing.T) {
	d := newDC(t, testdc.Options{})
	admin := d.AdminToken()
	tn := d.newTenant(admin, d.rootTenantID(), "Original", "customer")
	if tn.Version != 1 {
		t.Fatalf("new tenant at version %d, want 1", tn.Version)
	}
	r := d.Call(http.MethodPut, "/api/2/tenants/"+tn.ID, admin, map[string]any{"version": 1, "name": "Second"})
	var got api.Tenant
	r.JSON(t, &got)
	if r.Status != http.StatusOK || got.Version != 2 || got.Name != "Second" || !got.Enabled || got.Kind != "customer" {
		t.Fatalf("update at version 1: %d %s", r.Status, r.Body)
	}
	if !got.UpdatedAt.After(tn.UpdatedAt) && !got.UpdatedAt.Equal(tn.UpdatedAt) {
		t.Errorf("updated_at went back: %v after %v", got.UpdatedAt, tn.UpdatedAt)
	}
	r = d.Call(http.MethodPut, "/api/2/tenants/"+tn.ID, admin, map[string]any{"version": 1, "name": "Lost"})
	if r.Status != http.StatusConflict || r.APIError(t).Code != "conflict" {
		t.Errorf("stale update: %d %s, want 409 conflict", r.Status, r.Body)
	}
	if cur := d.getTenant(admin, tn.ID); cur.Name != "Second" || cur.Version != 2 {
		t.Errorf("after the stale update: %+v", cur)
	}

	bad := []struct {
		name string
		body any
	}{
		{"no version", map[string]any{"name": "x"}},
		{"nothing to change", map[string]any{"version": 2}},
		{"empty name", map[string]any{"version": 2, "name": " "}},
		{"kind is not updatable", map[string]any{"version": 2, "kind": "unit"}},
		{"version of the wrong type", map[string]any{"version": "2", "name": "x"}},
		{"enabled of the wrong type", map[string]any{"version": 2, "enabled": "false"}},
	}
	for _, tc := range bad {
		r := d.Call(http.MethodPut, "/api/2/tenants/"+tn.ID, admin, tc.body)
		if r.Status != http.StatusBadRequest || r.APIError(t).Code != "validationError" {
			t.Errorf("%s: %d %s, want 400 validationError", tc.name, r.Status, r.Body)
		}
	}
	if r := d.Call(http.MethodPut, "/api/2/tenants/no-such-tenant", admin, map[string]any{"version": 1, "name": "x"}); r.Status != http.StatusNotFound {
		t.Errorf("update of an unknown tenant: %d %s", r.Status, r.Body)
	}

	// Ten updates race from version 2: one wins, the rest conflict.
	const racers = 10
	statuses := make([]int, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			statuses[i] = d.Call(http.MethodPut, "/api/2/tenants/"+tn.ID, admin, map[string]any{"version": 2, "name": fmt.Sprintf("Racer %d", i)}).Status
		})
	}
	wg.Wait()
	ok, conflict := 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
			conflict++
		}
	}
	if ok != 1 || conflict != racers-1 {
		t.Errorf("racing updates: %d succeeded and %d conflicted (%v), want 1 and %d", ok, conflict, statuses, racers-1)
	}
	if cur := d.getTenant(admin, tn.ID); cur.Version != 3 || !strings.HasPrefix(cur.Name, "Racer ") {
		t.Errorf("after the race: %+v", cur)
	}

	var audit api.AuditList
	d.Call(http.MethodGet, "/api/2/audit?target="+tn.ID, admin, nil).JSON(t, &audit)
	var actions []string
	for _, e := range audit.Items {
		actions = append(actions, e.Action)
	}
	if want := []string{"tenant.update", "tenant.update", "tenant.create"}; !slices.Equal(actions, want) {
		t.Errorf("audit of the tenant = %q, want %q (refused updates change nothing)", actions, want)
	}
}

// POST /api/2/tenants answers 201 with the tenant for each platform kind
// and 400 for anything else.
func TestTenantCreateValidation(t *testing.T) {
	d := newDC(t, testdc.Options{})
	admin := d.AdminToken()
	root := d.rootTenantID()
	for _, kind := range []string{"partner", "customer", "folder", "unit"} {
		r := d.Call(http.MethodPost, "/api/2/tenants", admin, map[string]string{"parent_id": root, "name": "A " + kind, "kind": kind})
		var tn api.Tenant
		r.JSON(t, &tn)
		if r.Status != http.StatusCreated || !uuidRE.MatchString(tn.ID) || tn.ParentID != root || tn.Name != "A "+kind ||
			tn.Kind != kind || !tn.Enabled || tn.Version != 1 || tn.CreatedAt.IsZero() || !tn.UpdatedAt.Equal(tn.CreatedAt) {
			t.Errorf("create %s: %d %s", kind, r.Status, r.Body)
		}
		if loc := r.Header.Get("Location"); loc != "/api/2/tenants/"+tn.ID {
			t.Errorf("Location = %q", loc)
		}
	}
	bad := []struct {
		name string
		body any
	}{
		{"unknown kind", map[string]string{"name": "x", "kind": "planet"}},
		{"the root's kind", map[string]string{"name": "x", "kind": "root"}},
		{"kind in the wrong case", map[string]string{"name": "x", "kind": "Partner"}},
		{"no kind", map[string]string{"name": "x"}},
		{"no name", map[string]string{"kind": "customer"}},
		{"blank name", map[string]string{"name": " \t", "kind": "customer"}},
		{"name with a newline", map[string]string{"name": "a\nb", "kind": "customer"}},
		{"name too long", map[string]string{"name": strings.Repeat("é", 256), "kind": "customer"}},
		{"unknown field", map[string]string{"name": "x", "kind": "customer", "enabled": "false"}},
		{"not JSON", "{"},
	}
	for _, tc := range bad {
		r := d.Call(http.MethodPost, "/api/2/tenants", admin, tc.body)
		if r.Status != http.StatusBadRequest || r.APIError(t).Code != "validationError" {
			t.Errorf("%s: %d %s, want 400 validationError", tc.name, r.Status, r.Body)
		}
	}
	if r := d.Call(http.MethodPost, "/api/2/tenants", admin, map[string]string{"parent_id": "no-such-tenant", "name": "x", "kind": "unit"}); r.Status != http.StatusNotFound {
		t.Errorf("create below an unknown parent: %d %s, want 404", r.Status, r.Body)
	}
	if r := d.Call(http.MethodPost, "/api/2/tenants", admin, map[string]string{"name": strings.Repeat("é", 255), "kind": "unit"}); r.Status != http.StatusCreated {
		t.Errorf("a name of 255 characters: %d %s", r.Status, r.Body)
	}
	if r := d.Call(http.MethodDelete, "/api/2/tenants/"+root, admin, nil); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE a tenant: %d, want 405", r.Status)
	}
	if r := d.Call(http.MethodPost, "/api/2/tenants", "", map[string]string{"name": "x", "kind": "unit"}); r.Status != http.StatusUnauthorized {
		t.Errorf("create without a token: %d, want 401", r.Status)
	}
}

// GET /api/2/tenants/{id}/children lists the direct children in id order.
func TestTenantChildren(t *testing.T) {
	d := newDC(t, testdc.Options{})
	admin := d.AdminToken()
	parent := d.newTenant(admin, d.rootTenantID(), "Parent", "partner")
	var want []string
	for i := range 5 {
		c := d.newTenant(admin, parent.ID, fmt.Sprintf("Child %d", i), "customer")
		want = append(want, c.ID)
	}
	slices.Sort(want)
	grandchild := d.newTenant(admin, want[2], "Grandchild", "unit")

	r := d.Call(http.MethodGet, "/api/2/tenants/"+parent.ID+"/children", admin, nil)
	var list api.TenantList
	r.JSON(t, &list)
	var got []string
	for _, c := range list.Items {
		got = append(got, c.ID)
		if c.ParentID != parent.ID || c.Kind != "customer" || !c.Enabled || c.Version != 1 || !strings.HasPrefix(c.Name, "Child ") {
			t.Errorf("child %+v", c)
		}
	}
	if r.Status != http.StatusOK || !slices.Equal(got, want) {
		t.Errorf("children = %d %q, want %q", r.Status, got, want)
	}
	r = d.Call(http.MethodGet, "/api/2/tenants/"+grandchild.ID+"/children", admin, nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"items":[]`) {
		t.Errorf("children of a leaf: %d %s, want an empty items array", r.Status, r.Body)
	}
	if r := d.Call(http.MethodGet, "/api/2/tenants/no-such-tenant/children", admin, nil); r.Status != http.StatusNotFound {
		t.Errorf("children of an unknown tenant: %d %s", r.Status, r.Body)
	}
}
