package guard_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/guard"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
)

// The guard's Claims carry what the token says, times included, read from
// the token itself rather than from the guard's own idea of them.
func TestClaimsAreTheTokens(t *testing.T) {
	d := testdc.Start(t, testdc.Options{})
	g := newGuard(t, guard.Config{Issuers: []guard.Issuer{issuer(d, d.Admin)}, Now: d.Clock.Now})
	raw := d.AdminToken()

	parts := strings.Split(raw, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Iss   string `json:"iss"`
		Sub   string `json:"sub"`
		Aud   string `json:"aud"`
		Nbf   int64  `json:"nbf"`
		Exp   int64  `json:"exp"`
		Iat   int64  `json:"iat"`
		Jti   string `json:"jti"`
		Gen   int64  `json:"gen"`
		Scope []struct {
			TUID string `json:"tuid"`
			RN   string `json:"rn"`
			Role string `json:"role"`
		} `json:"scope"`
	}
	if err := json.Unmarshal(payload, &want); err != nil {
		t.Fatal(err)
	}

	c, err := g.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != want.Iss || c.Subject != want.Sub || c.ID != want.Jti || c.Generation != want.Gen ||
		len(c.Audience) != 1 || c.Audience[0] != want.Aud {
		t.Errorf("claims = %+v, want those of %s", c, payload)
	}
	nbfOK := c.NotBefore.IsZero() == (want.Nbf == 0) && (want.Nbf == 0 || c.NotBefore.Unix() == want.Nbf)
	if c.Expiry.Unix() != want.Exp || c.IssuedAt.Unix() != want.Iat || !nbfOK {
		t.Errorf("times: exp %v iat %v nbf %v, want exp %d iat %d nbf %d", c.Expiry, c.IssuedAt, c.NotBefore, want.Exp, want.Iat, want.Nbf)
	}
	if len(c.Scope) != len(want.Scope) || len(c.Scope) == 0 {
		t.Fatalf("scope = %+v, want %+v", c.Scope, want.Scope)
	}
	for n, s := range want.Scope {
		if got := c.Scope[n]; got.TUID != s.TUID || got.RN != s.RN || got.Role != s.Role {
			t.Errorf("scope[%d] = %+v, want %+v", n, got, s)
		}
	}
}

// The guard spells out the server's error codes; they must not drift.
func TestCodesAreTheServers(t *testing.T) {
	for got, want := range map[string]string{
		guard.CodeBearerTokenMissing:  gatehouse.CodeBearerTokenMissing,
		guard.CodeTokenMalformed:      gatehouse.CodeTokenMalformed,
		guard.CodeTokenIssuerMismatch: gatehouse.CodeTokenIssuerMismatch,
		guard.CodeTokenInvalid:        gatehouse.CodeTokenInvalid,
		guard.CodeTokenExpired:        gatehouse.CodeTokenExpired,
		guard.CodeTokenRevoked:        gatehouse.CodeTokenRevoked,
	} {
		if got != want {
			t.Errorf("guard code %q, server code %q", got, want)
		}
	}
}
