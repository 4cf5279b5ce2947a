package service_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/sqlite"
)

// benchService is a data center's service on a real SQLite store in a
// temporary directory, with a bootstrapped admin client, as `gatehouse
// serve` runs it: the figures include the store and the client cache.
func benchService(b *testing.B) (*service.Service, *sqlite.Store, service.ClientCredentials) {
	b.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "gatehouse.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	svc, err := service.New(service.Config{Sealer: testkit.Sealer(),
		Store: store, DatacenterURL: "http://127.0.0.1:8080", DatacenterID: "bench",
		TokenTTL: 2 * time.Hour, Leeway: 30 * time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close(context.Background()) })
	boot := service.NewBootstrapCredentials()
	if _, err := svc.Bootstrap(ctx, boot); err != nil {
		b.Fatal(err)
	}
	return svc, store, service.ClientCredentials{ClientID: boot.ClientID, Secret: boot.ClientSecret, Method: gatehouse.AuthSecretBasic}
}

// BenchmarkIssueToken is the token endpoint without HTTP: client
// authentication (cache, HMAC of the secret), two signatures, and noting
// the access in memory.
func BenchmarkIssueToken(b *testing.B) {
	svc, _, cred := benchService(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.IssueToken(ctx, cred); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateCached is the account API's bearer check with a
// warm client cache: full token verification (an RSA signature check) plus
// the client's current state from memory.
func BenchmarkAuthenticateCached(b *testing.B) {
	svc, _, cred := benchService(b)
	ctx := context.Background()
	issued, err := svc.IssueToken(ctx, cred)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, issued.AccessToken); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Authenticate(ctx, issued.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateCachedParallel is BenchmarkAuthenticateCached on
// every core: the ceiling of `gatehouse bench api` before HTTP.
func BenchmarkAuthenticateCachedParallel(b *testing.B) {
	svc, _, cred := benchService(b)
	ctx := context.Background()
	issued, err := svc.IssueToken(ctx, cred)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.Authenticate(ctx, issued.AccessToken); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkClientLookup compares the ways a client is found: from the
// cache (client authentication at the token endpoint, HMAC included), from
// SQLite (a cache miss), and through the account API's GetClient, which is
// what `gatehouse bench api` requests after the bearer check.
func BenchmarkClientLookup(b *testing.B) {
	svc, store, cred := benchService(b)
	ctx := context.Background()
	b.Run("cached", func(b *testing.B) {
		if _, err := svc.AuthenticateClient(ctx, cred); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.AuthenticateClient(ctx, cred); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("store", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := store.GetClient(ctx, cred.ClientID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetClient", func(b *testing.B) {
		issued, err := svc.IssueToken(ctx, cred)
		if err != nil {
			b.Fatal(err)
		}
		p, err := svc.Authenticate(ctx, issued.AccessToken)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.GetClient(ctx, p, cred.ClientID); err != nil {
				b.Fatal(err)
			}
		}
	})
}
