package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// TestDurabilityAfterKill checks the store's promise that an acknowledged
// write survives a crash: the process is SIGKILLed (no deferred close, no
// WAL checkpoint, no flush) right after the last acknowledged write, and a
// new process on the same data directory must see every change.
func TestDurabilityAfterKill(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	boot := s.bootstrapCreds(t)
	admin := s.token(t, boot.ClientID, boot.ClientSecret).AccessToken
	kids := s.jwksKids(t)

	// Clients in each end state; the extras make the kill land after a
	// burst of writes rather than one.
	keep := s.createClient(t, admin, "keep")
	disable := s.createClient(t, admin, "disable")
	regen := s.createClient(t, admin, "regenerate")
	del := s.createClient(t, admin, "delete")
	var extras []apiClient
	for i := range 3 {
		extras = append(extras, s.createClient(t, admin, fmt.Sprintf("extra-%d", i)))
	}
	keepTok := s.token(t, keep.ClientID, keep.ClientSecret)

	// The reads are done; from here on every request is a write, and the
	// kill follows the last one's answer with nothing in between.
	r := s.do(t, http.MethodPut, "/api/2/clients/"+url.PathEscape(disable.ClientID), bearer(admin), map[string]string{"status": "disabled"})
	r.Want(t, http.StatusOK, "disable")
	newSecret := s.regenerate(t, admin, regen.ClientID)
	r = s.do(t, http.MethodDelete, "/api/2/clients/"+url.PathEscape(del.ClientID), bearer(admin), nil)
	if r.Status != http.StatusNoContent {
		s.kill()
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	s.kill()

	s2 := startServer(t, serverOpts{dataDir: s.DataDir, port: s.Port})
	s2.noteCred(boot.ClientSecret, keep.ClientSecret, disable.ClientSecret, regen.ClientSecret, del.ClientSecret,
		newSecret, admin, keepTok.AccessToken, keepTok.IDToken)
	if s2.URL != s.URL {
		t.Fatalf("restarted on %s, want %s", s2.URL, s.URL)
	}

	// The keys are the same, so tokens issued before the crash still
	// verify; a new key would log out every client at once.
	if got := s2.jwksKids(t); !slices.Equal(got, kids) {
		t.Errorf("JWKS kids after restart %v, want %v", got, kids)
	}
	if _, status := s2.getClient(t, keepTok.AccessToken, keep.ClientID); status != http.StatusOK {
		t.Errorf("token issued before the kill: GET own client answered %d, want 200", status)
	}

	// Tokens are re-fetched below rather than reusing admin's, so that
	// each check stands on its own.
	admin2 := s2.token(t, boot.ClientID, boot.ClientSecret).AccessToken
	for _, c := range append([]apiClient{keep, regen}, extras...) {
		got, status := s2.getClient(t, admin2, c.ClientID)
		if status != http.StatusOK || got.Status != "enabled" || got.Data.ClientName != c.Data.ClientName {
			t.Errorf("client %s (%s) after restart: %d %+v", c.ClientID, c.Data.ClientName, status, got)
		}
	}
	if got, status := s2.getClient(t, admin2, disable.ClientID); status != http.StatusOK || got.Status != "disabled" {
		t.Errorf("disabled client after restart: %d status %q, want 200 disabled", status, got.Status)
	}
	s2.wantInvalidClient(t, disable.ClientID, disable.ClientSecret, "disabled client after restart")
	if _, status := s2.getClient(t, admin2, del.ClientID); status != http.StatusNotFound {
		t.Errorf("deleted client after restart: %d, want 404", status)
	}
	s2.wantInvalidClient(t, del.ClientID, del.ClientSecret, "deleted client after restart")
	s2.wantInvalidClient(t, regen.ClientID, regen.ClientSecret, "old secret of the regenerated client after restart")
	s2.token(t, regen.ClientID, newSecret)

	list := s2.listClients(t, admin2)
	if want := 1 + 3 + len(extras); len(list) != want {
		t.Errorf("after restart %d clients, want %d (admin, keep, disable, regenerate, extras)", len(list), want)
	}
}
