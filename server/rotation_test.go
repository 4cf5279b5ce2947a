package server_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
)

func (d *dc) jwksKids() map[string]bool {
	d.t.Helper()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	d.Call(http.MethodGet, "/bc/idp/keys", "", nil).JSON(d.t, &set)
	kids := map[string]bool{}
	for _, k := range set.Keys {
		kids[k.KID] = true
	}
	return kids
}

func kidOf(t *testing.T, tok string) string {
	h, _ := decodeJWT(t, tok)
	return h["kid"].(string)
}

// A rotation publishes the new key at once, signs with it only after the
// publish delay, keeps the old key until its tokens have expired, and
// rejects no valid token at any point, under load.
func TestKeyRotation(t *testing.T) {
	d := newDC(t, testdc.Options{})
	admin := d.AdminToken()
	old := kidOf(t, admin)

	// Load: valid tokens used all through the rotation.
	var failures, calls atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok := d.Token(d.Admin).AccessToken
				for i := 0; i < 3; i++ {
					calls.Add(1)
					if r := d.Call(http.MethodGet, "/api/2/clients/"+d.Admin.ID, tok, nil); r.Status != 200 {
						failures.Add(1)
						t.Logf("rejected during rotation: %d %s", r.Status, r.Body)
					}
				}
			}
		}()
	}

	r := d.Call(http.MethodPost, "/api/2/keys/rotate", admin, nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	var k api.Key
	r.JSON(t, &k)
	if k.State != "next" || k.KID == old || !k.ActiveAt.After(time.Now()) {
		t.Fatalf("rotated-in key = %+v", k)
	}
	if kids := d.jwksKids(); !kids[old] || !kids[k.KID] {
		t.Fatalf("JWKS right after rotation = %v, want both keys", kids)
	}
	if got := kidOf(t, d.Token(d.Admin).AccessToken); got != old {
		t.Errorf("a new token is signed with %s before the publish delay, want the old key", got)
	}

	// The ring picks its signing key when it loads: two resyncs after the
	// publish delay, one of them begun after it, the new key signs.
	d.Clock.Advance(7 * time.Minute)
	d.Synced.Wait(t, 2, "two resyncs after the publish delay")
	if got := kidOf(t, d.Token(d.Admin).AccessToken); got != k.KID {
		t.Fatalf("after the publish delay a new token is signed with %s, want the new key %s", got, k.KID)
	}
	if r := d.Call(http.MethodGet, "/api/2/clients/"+d.Admin.ID, admin, nil); r.Status != 200 {
		t.Errorf("a token of the old key after the switch: %d %s", r.Status, r.Body)
	}

	var keys api.KeyList
	d.Call(http.MethodGet, "/api/2/keys", d.AdminToken(), nil).JSON(t, &keys)
	states := map[string]api.Key{}
	for _, key := range keys.Items {
		states[key.KID] = key
	}
	if states[old].State != "previous" || states[old].RetireAt == nil || states[k.KID].State != "active" {
		t.Errorf("keys after the switch = %+v", keys.Items)
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d of %d calls with valid tokens were rejected during the rotation", failures.Load(), calls.Load())
	}
	t.Logf("%d calls during the rotation, none rejected", calls.Load())

	// Once every token of the old key has expired, it leaves the JWKS.
	d.Clock.Advance(3 * time.Hour)
	d.Synced.Wait(t, 2, "two resyncs after the old key's tokens expired")
	if d.jwksKids()[old] {
		t.Fatal("the old key is not retired")
	}
	if !d.jwksKids()[k.KID] {
		t.Error("the new key left the JWKS")
	}
}

func TestKeysAPIAuthorization(t *testing.T) {
	d := newDC(t, testdc.Options{})
	_, plain := d.CreateClient(api.CreateClientRequest{})
	tok := d.Token(plain).AccessToken
	for _, tc := range []struct{ method, path string }{{"GET", "/api/2/keys"}, {"POST", "/api/2/keys/rotate"}} {
		if r := d.Call(tc.method, tc.path, tok, nil); r.Status != 403 {
			t.Errorf("%s %s as a non-admin: %d", tc.method, tc.path, r.Status)
		}
	}
	if r := d.Call("GET", "/api/2/keys", d.AdminToken(), nil); r.Status != 200 {
		t.Errorf("GET /api/2/keys as the root admin: %d", r.Status)
	}
}

func TestAuditLog(t *testing.T) {
	d := newDC(t, testdc.Options{})
	admin := d.AdminToken()
	c, cred := d.CreateClient(api.CreateClientRequest{})
	d.Call("PUT", "/api/2/clients/"+c.ClientID, admin, map[string]string{"status": "disabled"})
	d.Call("PUT", "/api/2/clients/"+c.ClientID, admin, map[string]string{"status": "enabled"})
	d.Call("POST", "/api/2/clients/"+c.ClientID+"/secret", admin, nil)
	_, plain := d.CreateClient(api.CreateClientRequest{})
	plainTok := d.Token(plain).AccessToken
	d.Call("DELETE", "/api/2/clients/"+c.ClientID, plainTok, nil) // denied
	d.Call("POST", "/api/2/keys/rotate", admin, nil)
	d.Call("DELETE", "/api/2/clients/"+c.ClientID, admin, nil)
	_ = cred

	var log api.AuditList
	r := d.Call("GET", "/api/2/audit", admin, nil)
	r.JSON(t, &log)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var got []string
	for _, e := range log.Items {
		got = append(got, e.Action+":"+e.Outcome)
		if e.ActorID == "" || e.SourceIP != "127.0.0.1" || e.Time.IsZero() || e.TenantID == "" {
			t.Errorf("entry = %+v", e)
		}
	}
	want := []string{
		"client.delete:success", "key.rotate:success", "client.delete:denied", "client.create:success",
		"client.regenerate_secret:success", "client.enable:success", "client.disable:success", "client.create:success",
	}
	if len(got) != len(want) {
		t.Fatalf("audit log = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %s, want %s (newest first)", i, got[i], want[i])
		}
	}

	// Paging and the target filter.
	var page api.AuditList
	d.Call("GET", "/api/2/audit?limit=3", admin, nil).JSON(t, &page)
	if len(page.Items) != 3 || page.Paging == nil {
		t.Fatalf("first page = %+v", page)
	}
	var rest api.AuditList
	d.Call("GET", "/api/2/audit?limit=100&after="+page.Paging.Cursors.After, admin, nil).JSON(t, &rest)
	if len(rest.Items) != len(want)-3 || rest.Items[0].Action+":"+rest.Items[0].Outcome != want[3] {
		t.Errorf("second page = %+v", rest.Items)
	}
	var about api.AuditList
	d.Call("GET", "/api/2/audit?target="+c.ClientID, admin, nil).JSON(t, &about)
	if len(about.Items) != 6 {
		t.Errorf("entries about the client = %d, want 6", len(about.Items))
	}
	if r := d.Call("GET", "/api/2/audit", plainTok, nil); r.Status != 403 {
		t.Errorf("a non-admin reads the audit log: %d", r.Status)
	}
}
