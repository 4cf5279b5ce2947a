package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/service"
)

// Replicas of one data center that disagree about the signing algorithm
// rotate once each when they start, and never again while they run: they
// do not fight over the key set on every resync.
func TestReplicasWithDifferentAlgorithms(t *testing.T) {
	store := openStore(t, t.TempDir())
	start := func(alg string) (*service.Service, *testkit.Events) {
		t.Helper()
		synced := testkit.NewEvents()
		svc := startServiceWith(t, service.Config{Store: store, SigningAlgorithm: alg, SyncInterval: 10 * time.Millisecond,
			Hooks: service.Hooks{Synced: synced.Add}})
		return svc, synced
	}
	keyAlgs := func() []string {
		t.Helper()
		keys, err := store.SigningKeys(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var algs []string
		for _, k := range keys {
			algs = append(algs, k.Algorithm)
		}
		return algs
	}

	first, firstSynced := start("RS256")
	if _, err := first.Bootstrap(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	_, secondSynced := start("ES256")
	if got := keyAlgs(); len(got) != 2 {
		t.Fatalf("after the ES256 replica started: keys %v, want the RS256 key and one ES256 key", got)
	}
	// Many resyncs of both replicas later, still the same two keys.
	firstSynced.Wait(t, 10, "resyncs of the RS256 replica")
	secondSynced.Wait(t, 10, "resyncs of the ES256 replica")
	if got := keyAlgs(); len(got) != 2 {
		t.Errorf("the replicas kept rotating: keys %v", got)
	}
	root, err := store.RootTenant(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := first.ListAudit(t.Context(), &service.Principal{Client: gatehouse.Client{ID: admin.ClientID, TenantID: root.ID, Role: gatehouse.RoleTenantAdmin}}, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	rotations := 0
	for _, e := range entries {
		if e.Action == service.ActionKeyRotate {
			rotations++
		}
	}
	if rotations != 1 {
		t.Errorf("%d rotations audited, want 1", rotations)
	}
}

// A store whose keys exist but whose root tenant does not yet (the first
// start stopped between the two) switches algorithm once bootstrapped.
func TestAlgorithmSwitchWaitsForBootstrap(t *testing.T) {
	store := openStore(t, t.TempDir())
	startService(t, store).Close(context.Background()) // creates an RS256 key, no tenant
	synced := testkit.NewEvents()
	svc := startServiceWith(t, service.Config{Store: store, SigningAlgorithm: "EdDSA", SyncInterval: 10 * time.Millisecond,
		Hooks: service.Hooks{Synced: synced.Add}})
	synced.Wait(t, 5, "resyncs, which retry the switch")
	if keys, _ := store.SigningKeys(t.Context()); len(keys) != 1 {
		t.Fatalf("rotated before the store was bootstrapped: %d keys", len(keys))
	}
	if _, err := svc.Bootstrap(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	// Two resyncs later, one of them begun after the bootstrap, the switch
	// is done.
	synced.Wait(t, 2, "resyncs after the bootstrap")
	keys, err := store.SigningKeys(t.Context())
	if err != nil || len(keys) != 2 || keys[len(keys)-1].Algorithm != "EdDSA" {
		t.Errorf("after the bootstrap: %d keys (%v), want the RS256 key and a new EdDSA one", len(keys), err)
	}
}
