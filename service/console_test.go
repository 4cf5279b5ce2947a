package service

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/sqlite"
)

// consoleTestService is a started service on a fresh SQLite file with a
// bootstrapped admin, whose principal it returns. Failed authentications
// are limited to 3 a minute, so that the tests can reach the limit.
func consoleTestService(t *testing.T, now func() time.Time) (*Service, *Principal, BootstrapCredentials) {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if now == nil {
		now = time.Now
	}
	svc, err := New(Config{
		Sealer: testkit.Sealer(), Store: store, DatacenterURL: "http://dc.test",
		TokenTTL: time.Hour, SyncInterval: time.Hour, Now: now,
		AuthLimiter: ratelimit.NewMemory(ratelimit.Config{Now: now, Limit: 3, Window: time.Minute}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	admin := BootstrapCredentials{ClientID: "console-admin", ClientSecret: gatehouse.NewSecret()}
	if _, err := svc.Bootstrap(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	c, err := svc.lookupClient(t.Context(), admin.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	return svc, &Principal{Client: c}, admin
}

func TestAuthenticateAdmin(t *testing.T) {
	svc, admin, creds := consoleTestService(t, nil)
	ctx := t.Context()
	signIn := func(id, secret, ip string) (*Principal, error) {
		return svc.AuthenticateAdmin(ctx, ClientCredentials{ClientID: id, Secret: secret, RemoteIP: ip})
	}

	p, err := signIn(creds.ClientID, creds.ClientSecret, "192.0.2.1")
	if err != nil || p.Client.ID != creds.ClientID || p.Claims != nil {
		t.Fatalf("bootstrap admin (client_secret_basic): %+v, %v", p, err)
	}

	// The method is the client's own, whatever it is.
	postAdmin, postSecret, err := svc.CreateClient(ctx, admin, ClientSpec{AuthMethod: gatehouse.AuthSecretPost, Role: gatehouse.RoleTenantAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signIn(postAdmin.ID, postSecret, "192.0.2.1"); err != nil {
		t.Errorf("client_secret_post admin: %v", err)
	}

	plain, plainSecret, err := svc.CreateClient(ctx, admin, ClientSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signIn(plain.ID, plainSecret, "192.0.2.2"); !errors.Is(err, gatehouse.ErrForbidden) {
		t.Errorf("non-admin: %v, want ErrForbidden", err)
	}

	disabled := gatehouse.StatusDisabled
	if _, err := svc.UpdateClient(ctx, admin, postAdmin.ID, ClientUpdate{Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := signIn(postAdmin.ID, postSecret, "192.0.2.3"); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("disabled admin: %v, want ErrInvalidClient", err)
	}

	// Failures count against the token endpoint's limiter: after the limit,
	// even the right secret is refused from that address, and the unknown
	// id is not looked up.
	for i := 0; i < 3; i++ {
		if _, err := signIn("no-such-client", "x", "192.0.2.9"); !errors.Is(err, ErrInvalidClient) {
			t.Fatalf("unknown client: %v, want ErrInvalidClient", err)
		}
	}
	var limited *gatehouse.RateLimitedError
	if _, err := signIn(creds.ClientID, creds.ClientSecret, "192.0.2.9"); !errors.As(err, &limited) {
		t.Errorf("after 3 failures: %v, want RateLimitedError", err)
	}
	if _, err := svc.IssueToken(ctx, ClientCredentials{ClientID: creds.ClientID, Secret: creds.ClientSecret, Method: gatehouse.AuthSecretBasic, RemoteIP: "192.0.2.9"}); !errors.As(err, &limited) {
		t.Errorf("token endpoint after 3 console failures: %v, want RateLimitedError", err)
	}
}

func TestSessionPrincipalEndsWithTheClient(t *testing.T) {
	svc, admin, _ := consoleTestService(t, nil)
	ctx := t.Context()
	other, _, err := svc.CreateClient(ctx, admin, ClientSpec{Role: gatehouse.RoleTenantAdmin})
	if err != nil {
		t.Fatal(err)
	}
	check := func(gen int64) error { _, err := svc.SessionPrincipal(ctx, other.ID, gen, "192.0.2.1"); return err }

	if p, err := svc.SessionPrincipal(ctx, other.ID, other.Generation, "192.0.2.1"); err != nil || p.Client.ID != other.ID || !p.IsTenantAdmin() {
		t.Fatalf("fresh session: %+v, %v", p, err)
	}
	if _, err := svc.RegenerateSecret(ctx, admin, other.ID); err != nil {
		t.Fatal(err)
	}
	if err := check(other.Generation); !errors.Is(err, gatehouse.ErrUnauthenticated) {
		t.Errorf("after regeneration: %v, want ErrUnauthenticated", err)
	}
	if err := check(other.Generation + 1); err != nil {
		t.Errorf("the new generation: %v", err)
	}
	disabled := gatehouse.StatusDisabled
	if _, err := svc.UpdateClient(ctx, admin, other.ID, ClientUpdate{Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	if err := check(other.Generation + 2); !errors.Is(err, gatehouse.ErrUnauthenticated) {
		t.Errorf("disabled: %v, want ErrUnauthenticated", err)
	}
	if err := svc.DeleteClient(ctx, admin, other.ID); err != nil {
		t.Fatal(err)
	}
	if err := check(other.Generation + 2); !errors.Is(err, gatehouse.ErrUnauthenticated) {
		t.Errorf("deleted: %v, want ErrUnauthenticated", err)
	}
}
