package token_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/token"
)

// benchIssuer is a data center's issuer and verifier over one fresh
// RSA-2048 key, as the server builds them.
func benchIssuer(b *testing.B) (*token.Issuer, *token.Verifier) {
	b.Helper()
	now := time.Now()
	k, err := token.GenerateSigningKey(token.DefaultAlgorithm, now)
	if err != nil {
		b.Fatal(err)
	}
	ring := &token.KeyRing{}
	if err := ring.Load([]gatehouse.SigningKey{k}, now); err != nil {
		b.Fatal(err)
	}
	iss, aud, err := token.Endpoints("http://127.0.0.1:8080")
	if err != nil {
		b.Fatal(err)
	}
	return &token.Issuer{URL: iss, Audience: aud, TTL: 2 * time.Hour, Keys: ring},
		&token.Verifier{Issuer: iss, Audience: aud, Keys: ring, Leeway: 30 * time.Second}
}

var benchClient = gatehouse.Client{
	ID: "3f1c2a8e-1111-4b6e-9c1d-2f0e5c1a7b90", TenantID: "7c6b5a49-3333-4e2d-8c1b-0a9f8e7d6c5b",
	Role: gatehouse.RoleTenantAdmin, Status: gatehouse.StatusEnabled, Generation: 1,
}

// BenchmarkIssue mints what one token response carries: an access token
// and an ID token, two RS256 signatures.
func BenchmarkIssue(b *testing.B) {
	is, _ := benchIssuer(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := is.Issue(context.Background(), benchClient, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssueParallel is BenchmarkIssue on every core (GOMAXPROCS):
// its ns/op times two is the per-signature cost to compare with
// `gatehouse bench sign`.
func BenchmarkIssueParallel(b *testing.B) {
	is, _ := benchIssuer(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := is.Issue(context.Background(), benchClient, time.Now()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerify is a cold verification of an access token: parse, key
// lookup, RSA signature check, claims — everything, nothing remembered
// from one call to the next.
func BenchmarkVerify(b *testing.B) {
	is, v := benchIssuer(b)
	t, err := is.Issue(context.Background(), benchClient, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, t.AccessToken, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel is BenchmarkVerify on every core.
func BenchmarkVerifyParallel(b *testing.B) {
	is, v := benchIssuer(b)
	t, err := is.Issue(context.Background(), benchClient, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, t.AccessToken, time.Now()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
