package service_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/keycrypt"
	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/sqlite"
	"github.com/gatehouse-dev/gatehouse/storetest"
	"github.com/gatehouse-dev/gatehouse/token"
)

// feedStore is a shared store as a replica sees it: the SQLite store plus a
// change feed the test drives, a count of client reads, and a switch that
// makes the database unreachable.
type feedStore struct {
	gatehouse.Store
	changes chan gatehouse.Change
	reads   atomic.Int64
	down    atomic.Bool
}

func (f *feedStore) GetClient(ctx context.Context, id string) (gatehouse.Client, error) {
	f.reads.Add(1)
	if f.down.Load() {
		return gatehouse.Client{}, errors.New("connection refused")
	}
	return f.Store.GetClient(ctx, id)
}

func (f *feedStore) WatchChanges(ctx context.Context, fn func(gatehouse.Change)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ch := <-f.changes:
			fn(ch)
		}
	}
}

func openStore(t *testing.T, dir string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func startService(t *testing.T, store gatehouse.Store) *service.Service {
	t.Helper()
	return startServiceWith(t, service.Config{Store: store, SyncInterval: time.Hour})
}

// startServiceWith starts a service with cfg, whose master key, data
// center URL and token TTL default to the tests' own.
func startServiceWith(t *testing.T, cfg service.Config) *service.Service {
	t.Helper()
	if cfg.Sealer == nil {
		cfg.Sealer = testkit.Sealer()
	}
	if cfg.DatacenterURL == "" {
		cfg.DatacenterURL = "http://dc.test"
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = time.Hour
	}
	svc, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	return svc
}

var admin = service.BootstrapCredentials{ClientID: "admin", ClientSecret: gatehouse.NewSecret()}

func adminCred() service.ClientCredentials {
	return service.ClientCredentials{ClientID: admin.ClientID, Secret: admin.ClientSecret, Method: gatehouse.AuthSecretBasic}
}

func TestClientCacheFollowsTheChangeFeed(t *testing.T) {
	fs := &feedStore{Store: openStore(t, t.TempDir()), changes: make(chan gatehouse.Change)}
	svc := startServiceWith(t, service.Config{Store: fs, Changes: fs, SyncInterval: time.Hour})
	ctx := t.Context()
	if _, err := svc.Bootstrap(ctx, admin); err != nil {
		t.Fatal(err)
	}
	auth := func() error { _, err := svc.AuthenticateClient(ctx, adminCred()); return err }

	// Before the feed is connected nothing is cached: every lookup reads.
	before := fs.reads.Load()
	for i := 0; i < 3; i++ {
		if err := auth(); err != nil {
			t.Fatal(err)
		}
	}
	if n := fs.reads.Load() - before; n != 3 {
		t.Errorf("feed not yet connected: %d reads for 3 lookups, want 3", n)
	}

	fs.changes <- gatehouse.Change{Kind: gatehouse.ChangeResync}
	fs.changes <- gatehouse.Change{Kind: gatehouse.ChangeKeys} // received only once the resync is handled
	auth()
	before = fs.reads.Load()
	for i := 0; i < 5; i++ {
		if err := auth(); err != nil {
			t.Fatal(err)
		}
	}
	if n := fs.reads.Load() - before; n != 0 {
		t.Errorf("feed connected: %d reads for 5 cached lookups, want 0", n)
	}

	fs.changes <- gatehouse.Change{Kind: gatehouse.ChangeClient, ID: admin.ClientID}
	fs.changes <- gatehouse.Change{Kind: gatehouse.ChangeKeys} // received only once the first is handled
	before = fs.reads.Load()
	auth()
	if n := fs.reads.Load() - before; n != 1 {
		t.Errorf("after a change to the client: %d reads, want 1", n)
	}

	// Feed lost and database down: fail closed, with an unavailable error
	// (a 503), never a cached answer and never invalid_client (a 401).
	fs.changes <- gatehouse.Change{Kind: gatehouse.ChangeLost}
	fs.changes <- gatehouse.Change{Kind: gatehouse.ChangeKeys}
	fs.down.Store(true)
	if err := auth(); !errors.Is(err, gatehouse.ErrUnavailable) {
		t.Errorf("database down, feed lost: %v, want ErrUnavailable", err)
	}
	fs.down.Store(false)
	if err := auth(); err != nil {
		t.Errorf("database back: %v", err)
	}
}

// A token signed by a key another replica added is accepted: the unknown
// kid makes this replica reload the key set from the shared store.
func TestUnknownKidReloadsKeys(t *testing.T) {
	dir := t.TempDir()
	storeA, storeB := openStore(t, dir), openStore(t, dir)
	a := startService(t, storeA)
	if _, err := a.Bootstrap(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	k, err := token.GenerateSigningKey(token.DefaultAlgorithm, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Newer than a's key, so b signs with it.
	if err := storeB.UpdateSigningKeys(t.Context(), storetest.AddKeys(k), gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	b := startService(t, storeB)
	if b.Keys().SigningKeyID() != k.ID {
		t.Fatalf("replica b signs with %s, want the new key %s", b.Keys().SigningKeyID(), k.ID)
	}
	if a.Keys().SigningKeyID() == k.ID {
		t.Fatal("replica a already knows the new key; the test proves nothing")
	}
	issued, err := b.IssueToken(t.Context(), adminCred())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(t.Context(), issued.AccessToken); err != nil {
		t.Errorf("replica a rejects replica b's token: %v", err)
	}
}

func newSealer(t *testing.T) *keycrypt.Sealer {
	t.Helper()
	key := make([]byte, keycrypt.KeySize)
	rand.Read(key)
	s, err := keycrypt.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Signing keys are stored sealed: the database alone cannot sign, and a
// master key that cannot open them stops the service without touching them.
func TestSigningKeysSealedAtRest(t *testing.T) {
	dir := t.TempDir()
	store := openStore(t, dir)
	sealer := newSealer(t)
	cfg := service.Config{Store: store, Sealer: sealer, DatacenterURL: "http://dc.test", TokenTTL: time.Hour}
	svc, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	svc.Close(context.Background())

	stored, err := store.SigningKeys(t.Context())
	if err != nil || len(stored) != 1 {
		t.Fatalf("stored keys: %d, %v", len(stored), err)
	}
	if !keycrypt.IsSealed(stored[0].PrivateKey) {
		t.Fatal("the stored private key is not sealed")
	}
	if _, err := x509.ParsePKCS8PrivateKey(stored[0].PrivateKey); err == nil {
		t.Fatal("the stored private key parses as a plain key")
	}

	cfg.Sealer = newSealer(t)
	wrong, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = wrong.Start(t.Context())
	if !errors.Is(err, keycrypt.ErrWrongMasterKey) || !strings.Contains(err.Error(), "GATEHOUSE_MASTER_KEY") {
		t.Fatalf("start with the wrong master key: %v", err)
	}
	after, _ := store.SigningKeys(t.Context())
	if len(after) != 1 || !bytes.Equal(after[0].PrivateKey, stored[0].PrivateKey) {
		t.Error("a failed start changed the stored keys")
	}

	cfg.Sealer = sealer
	again := startServiceWith(t, cfg)
	if again.Keys().SigningKeyID() != stored[0].ID {
		t.Errorf("the right master key signs with %s, want %s", again.Keys().SigningKeyID(), stored[0].ID)
	}
}

// New secrets are stored keyed by the master key (v2): the hash in the
// database cannot be checked against guesses without it.
func TestSecretsHashedUnderTheMasterKey(t *testing.T) {
	store := openStore(t, t.TempDir())
	svc := startServiceWith(t, service.Config{Store: store, Sealer: newSealer(t), DatacenterURL: "http://dc.test", TokenTTL: time.Hour})
	if _, err := svc.Bootstrap(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	c, err := store.GetClient(t.Context(), admin.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(c.SecretHash, []byte("hs256v2:")) || gatehouse.SecretMatches(c.ID, admin.ClientSecret, c.SecretHash) {
		t.Errorf("stored hash %q is not keyed by the master key", c.SecretHash[:8])
	}
	if _, err := svc.AuthenticateClient(t.Context(), adminCred()); err != nil {
		t.Errorf("the admin cannot authenticate: %v", err)
	}
}
