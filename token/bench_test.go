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
	return benchIssuerFor(b, token.DefaultAlgorithm)
}

func benchIssuerFor(b *testing.B, alg token.Algorithm) (*token.Issuer, *token.Verifier) {
	b.Helper()
	now := time.Now()
	k, err := token.GenerateSigningKey(alg, now)
	if err != nil {
		b.Fatal(err)
	}
	ring := &token.KeyRing{}
	if err := ring.Load([]gatehouse.SigningKey{k}, now); err != nil {
		b.Fatal(err)
	}
	iss, aud, err := token.IssuerAndAudience("http://127.0.0.1:8080")
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

// BenchmarkIssueAfterIdle is BenchmarkIssue for a lone client: the CPUs go
// idle between requests, as they do while a response travels and the next
// request arrives. issue-µs is the time of Issue alone (ns/op includes the
// pause); the difference to BenchmarkIssue is what waking an idle CPU for
// the second signature costs, which bounds `bench tokens --concurrency 1`.
func BenchmarkIssueAfterIdle(b *testing.B) {
	is, _ := benchIssuer(b)
	var issuing time.Duration
	for b.Loop() {
		time.Sleep(200 * time.Microsecond)
		start := time.Now()
		if _, err := is.Issue(context.Background(), benchClient, time.Now()); err != nil {
			b.Fatal(err)
		}
		issuing += time.Since(start)
	}
	b.ReportMetric(float64(issuing.Microseconds())/float64(b.N), "issue-µs")
}

// BenchmarkAlgorithms issues a token pair and verifies an access token cold
// with each signing algorithm a data center can use (--signing-alg).
func BenchmarkAlgorithms(b *testing.B) {
	for _, alg := range token.Algorithms() {
		b.Run("Issue/"+string(alg), func(b *testing.B) {
			is, _ := benchIssuerFor(b, alg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := is.Issue(context.Background(), benchClient, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Verify/"+string(alg), func(b *testing.B) {
			is, v := benchIssuerFor(b, alg)
			t, err := is.Issue(context.Background(), benchClient, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(context.Background(), t.AccessToken, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
