package token

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// FuzzVerify: no input makes the verifier panic or accept a token it did
// not mint; every rejection is a *gatehouse.Error with a bearer code. The
// key set holds a key of every algorithm, so that mutations can cross
// from one key type to another.
func FuzzVerify(f *testing.F) {
	now := time.Now()
	ring, keys := ringOf(f, now, Algorithms()...)
	const issuer, audience = "https://dc.example/bc", "dc.example"
	minted := map[string]bool{}
	for _, k := range keys {
		one := &KeyRing{}
		if err := one.Load([]gatehouse.SigningKey{k}, now); err != nil {
			f.Fatal(err)
		}
		is := &Issuer{URL: issuer, Audience: audience, TTL: time.Hour, Keys: one}
		good, err := is.Issue(context.Background(), gatehouse.Client{ID: "c1", TenantID: "t1"}, now)
		if err != nil {
			f.Fatal(err)
		}
		minted[good.AccessToken] = true
		parts := strings.Split(good.AccessToken, ".")
		for _, s := range []string{good.AccessToken, good.IDToken, parts[0] + "." + parts[1] + ".", parts[0] + ".e30." + parts[2]} {
			f.Add(s)
		}
	}
	for _, s := range []string{"a.b.c", "", "....", "eyJhbGciOiJub25lIn0.e30."} {
		f.Add(s)
	}
	v := &Verifier{Issuer: issuer, Audience: audience, Keys: ring, Leeway: time.Second}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(context.Background(), raw, now)
		if err == nil {
			if !minted[raw] {
				t.Fatalf("accepted a token that was not minted: %q", raw)
			}
			if c.ClientID != "c1" {
				t.Fatalf("claims = %+v", c)
			}
			return
		}
		var ge *gatehouse.Error
		if !errors.As(err, &ge) || !errors.Is(err, gatehouse.ErrUnauthenticated) {
			t.Fatalf("error %v is not a bearer failure", err)
		}
	})
}

func TestIssuerAndAudience(t *testing.T) {
	tests := []struct{ in, iss, aud string }{
		{"https://eu8-cloud.acronis.com", "https://eu8-cloud.acronis.com/bc", "eu8-cloud.acronis.com"},
		{"https://eu8-cloud.acronis.com/", "https://eu8-cloud.acronis.com/bc", "eu8-cloud.acronis.com"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/bc", "127.0.0.1:8080"},
		{"http://[::1]:9000/dc/", "http://[::1]:9000/dc/bc", "[::1]:9000"},
	}
	for _, tc := range tests {
		iss, aud, err := IssuerAndAudience(tc.in)
		if err != nil || iss != tc.iss || aud != tc.aud {
			t.Errorf("IssuerAndAudience(%q) = %q, %q, %v", tc.in, iss, aud, err)
		}
	}
	for _, bad := range []string{"", "eu8-cloud.acronis.com", "ftp://x", "https://x/?a=b", "https://u:p@x", "https://x#f"} {
		if _, _, err := IssuerAndAudience(bad); err == nil {
			t.Errorf("IssuerAndAudience(%q) accepted", bad)
		}
	}
}

func TestKeyRingPicksNewestActiveKey(t *testing.T) {
	now := time.Now()
	old, _ := GenerateSigningKey(DefaultAlgorithm, now.Add(-time.Hour))
	next, _ := GenerateSigningKey(DefaultAlgorithm, now)
	next.ActiveAt = now.Add(time.Hour) // published, not yet signing
	retired, _ := GenerateSigningKey(DefaultAlgorithm, now.Add(-3*time.Hour))
	retired.RetireAt = now.Add(-time.Minute)
	ring := &KeyRing{}
	if err := ring.Load([]gatehouse.SigningKey{retired, old, next}, now); err != nil {
		t.Fatal(err)
	}
	if ring.SigningKeyID() != old.ID {
		t.Errorf("signing with %s, want %s", ring.SigningKeyID(), old.ID)
	}
	if _, ok := ring.PublicKey(next.ID); !ok {
		t.Error("next key not published")
	}
	if _, ok := ring.PublicKey(retired.ID); ok {
		t.Error("retired key still published")
	}
	if n := len(ring.JWKS().Keys); n != 2 {
		t.Errorf("JWKS has %d keys, want 2", n)
	}
}

// NextSigningKey names the key that starts signing soonest after a time,
// whichever keys sign before it: what a token request that finds no active
// key is told to wait for.
func TestNextSigningKey(t *testing.T) {
	now := time.Now()
	first, _ := GenerateSigningKey(EdDSA, now)
	second, _ := GenerateSigningKey(EdDSA, now)
	second.ActiveAt = now.Add(6 * time.Minute)
	ring := &KeyRing{}
	if err := ring.Load([]gatehouse.SigningKey{first, second}, now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want *gatehouse.SigningKey
	}{
		{"before both", now.Add(-time.Hour), &first},
		{"as the first starts", now, &second},
		{"between", now.Add(time.Minute), &second},
		{"after both", now.Add(time.Hour), nil},
	} {
		kid, at, ok := ring.NextSigningKey(tc.at)
		switch {
		case tc.want == nil && ok:
			t.Errorf("%s: next key %s at %v, want none", tc.name, kid, at)
		case tc.want != nil && (!ok || kid != tc.want.ID || !at.Equal(tc.want.ActiveAt)):
			t.Errorf("%s: next key %s at %v (%v), want %s at %v", tc.name, kid, at, ok, tc.want.ID, tc.want.ActiveAt)
		}
	}
}

// The signer is chosen when a token is issued, not when keys were loaded:
// a next key starts signing the moment its ActiveAt passes, so the key it
// replaces signs nothing after that, as its retirement time assumes.
func TestSignerSwitchesWithoutReload(t *testing.T) {
	now := time.Now()
	old, _ := GenerateSigningKey(DefaultAlgorithm, now.Add(-time.Hour))
	next, _ := GenerateSigningKey(DefaultAlgorithm, now)
	next.ActiveAt = now.Add(6 * time.Minute)
	ring := &KeyRing{}
	if err := ring.Load([]gatehouse.SigningKey{old, next}, now); err != nil {
		t.Fatal(err)
	}
	is := &Issuer{URL: "https://dc.example/bc", Audience: "dc.example", TTL: time.Hour, Keys: ring}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{{now, old.ID}, {next.ActiveAt.Add(-time.Second), old.ID}, {next.ActiveAt, next.ID}, {next.ActiveAt.Add(time.Hour), next.ID}} {
		issued, err := is.Issue(context.Background(), gatehouse.Client{ID: "c", TenantID: "t"}, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		u, err := Parse(issued.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if u.Header.KeyID != tc.want {
			t.Errorf("at %s signed by %v, want %s", tc.at.Sub(now), u.Header.KeyID, tc.want)
		}
	}
}
