package server_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/service"
)

func (d *dc) discoveredAlgorithms() []string {
	d.t.Helper()
	var doc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	d.Call(http.MethodGet, "/bc/.well-known/openid-configuration", "", nil).JSON(d.t, &doc)
	return doc.Algs
}

func (d *dc) jwks() []map[string]any {
	d.t.Helper()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	d.Call(http.MethodGet, "/bc/idp/keys", "", nil).JSON(d.t, &set)
	return set.Keys
}

func algOf(t *testing.T, tok string) string {
	t.Helper()
	h, _ := decodeJWT(t, tok)
	alg, _ := h["alg"].(string)
	return alg
}

// Each --signing-alg gives a data center whose tokens, keys and discovery
// agree, whose tokens pass every check of its own and of third-party
// verifiers, and whose answers still match the OpenAPI document.
func TestSigningAlgorithms(t *testing.T) {
	tests := []struct{ alg, kty string }{
		{"RS256", "RSA"},
		{"ES256", "EC"},
		{"EdDSA", "OKP"},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			d := newDC(t, testdc.Options{SigningAlgorithm: tt.alg})
			c, cred := d.CreateClient(api.CreateClientRequest{})
			tr := d.Token(cred)
			for _, tok := range []string{tr.AccessToken, tr.IDToken} {
				if got := algOf(t, tok); got != tt.alg {
					t.Errorf("token signed %s, want %s", got, tt.alg)
				}
			}
			keys := d.jwks()
			if len(keys) != 1 || keys[0]["kty"] != tt.kty || keys[0]["alg"] != tt.alg || keys[0]["kid"] != kidOf(t, tr.AccessToken) {
				t.Errorf("JWKS %v, want one %s key for %s", keys, tt.kty, tt.alg)
			}
			if got := d.discoveredAlgorithms(); !slices.Equal(got, []string{tt.alg}) {
				t.Errorf("discovery lists %v, want [%s]", got, tt.alg)
			}

			// The server's own bearer check, introspection, and revocation.
			if r := d.Call(http.MethodGet, "/api/2/clients/"+c.ClientID, tr.AccessToken, nil); r.Status != http.StatusOK {
				t.Errorf("bearer call: %d %s", r.Status, r.Body)
			}
			r := d.idpPost("/bc/idp/introspect_token", testkit.Basic(cred.ID, cred.Secret), url.Values{"token": {tr.AccessToken}})
			if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"active":true`) {
				t.Errorf("introspection: %d %s", r.Status, r.Body)
			}
			// A signature that does not verify is refused as invalid.
			parts := strings.Split(tr.AccessToken, ".")
			sig, err := base64.RawURLEncoding.DecodeString(parts[2])
			if err != nil {
				t.Fatal(err)
			}
			sig[len(sig)/2] ^= 1
			tampered := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
			if code := d.bearerCode(t, c.ClientID, tampered); code != "tokenInvalid" {
				t.Errorf("tampered signature: %s, want tokenInvalid", code)
			}

			// coreos/go-oidc, a third-party relying party, pins the
			// algorithms discovery lists and verifies the ID token.
			ctx := context.Background()
			p, err := oidc.NewProvider(ctx, d.URL+"/bc")
			if err != nil {
				t.Fatalf("discovery: %v", err)
			}
			if _, err := p.Verifier(&oidc.Config{ClientID: cred.ID}).Verify(ctx, tr.IDToken); err != nil {
				t.Errorf("go-oidc: %v", err)
			}

			var list api.KeyList
			d.Call(http.MethodGet, "/api/2/keys", d.AdminToken(), nil).JSON(t, &list)
			if len(list.Items) != 1 || list.Items[0].Algorithm != tt.alg {
				t.Errorf("GET /api/2/keys: %+v", list.Items)
			}

			spec, _ := oaLoad(t, d.URL)
			for _, path := range []string{"/bc/idp/keys", "/bc/.well-known/openid-configuration"} {
				spec.do(t, d.URL, oaGet(path, http.StatusOK))
			}
			spec.do(t, d.URL, oaJSON(http.MethodGet, "/api/2/keys", d.AdminToken(), nil, http.StatusOK))
		})
	}
}

// Changing the signing algorithm of a running data center is a rotation:
// the new key is published at the next start and signs only after the
// publish delay, tokens of the old key stay valid, and starting again with
// the same setting changes nothing.
func TestSigningAlgorithmSwitch(t *testing.T) {
	d := newDC(t, testdc.Options{})
	before := d.AdminToken()
	if algOf(t, before) != "RS256" {
		t.Fatalf("default algorithm: %s", algOf(t, before))
	}

	d.SigningAlgorithm = "EdDSA"
	d.Restart()
	if n := len(d.jwks()); n != 2 {
		t.Fatalf("after the switch the JWKS holds %d keys, want the old and the new", n)
	}
	if got := d.discoveredAlgorithms(); !slices.Equal(got, []string{"RS256", "EdDSA"}) {
		t.Errorf("discovery during the publish delay: %v", got)
	}
	if alg := algOf(t, d.AdminToken()); alg != "RS256" {
		t.Errorf("a token during the publish delay is signed %s, want RS256", alg)
	}
	var audit api.AuditList
	d.Call(http.MethodGet, "/api/2/audit", d.AdminToken(), nil).JSON(t, &audit)
	if len(audit.Items) == 0 || audit.Items[0].Action != service.ActionKeyRotate || audit.Items[0].ActorID != service.SystemActor {
		t.Errorf("newest audit entry %+v, want a key rotation by the system", audit.Items[:min(1, len(audit.Items))])
	}

	d.Clock.Advance(6*time.Minute + time.Second)
	after := d.AdminToken()
	if alg := algOf(t, after); alg != "EdDSA" {
		t.Errorf("a token after the publish delay is signed %s, want EdDSA", alg)
	}
	if got := d.discoveredAlgorithms(); !slices.Equal(got, []string{"EdDSA", "RS256"}) {
		t.Errorf("discovery after the switch: %v", got)
	}
	for name, tok := range map[string]string{"old RS256": before, "new EdDSA": after} {
		if r := d.Call(http.MethodGet, "/api/2/clients/"+d.Admin.ID, tok, nil); r.Status != http.StatusOK {
			t.Errorf("%s token: %d %s", name, r.Status, r.Body)
		}
	}

	d.Restart()
	if keys := d.jwks(); len(keys) != 2 {
		t.Errorf("a restart with the same algorithm changed the key set: %v", keys)
		t.Log(d.Logs.String())
	}
}

// The forging families of attack_test.go, against data centers that sign
// with ES256 and EdDSA: every one is refused as tokenInvalid.
func TestSigningAlgorithmAttacks(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			d := newDC(t, testdc.Options{SigningAlgorithm: alg})
			good := d.AdminToken()
			parts := strings.Split(good, ".")
			h, _ := decodeJWT(t, good)
			kid := h["kid"].(string)
			header := func(alg string) string {
				return testdc.B64(map[string]any{"alg": alg, "typ": "at+jwt", "kid": kid})
			}
			var jwks struct {
				Keys []json.RawMessage `json:"keys"`
			}
			d.Call(http.MethodGet, "/bc/idp/keys", "", nil).JSON(t, &jwks)
			hs256 := func(key []byte) string {
				signing := header("HS256") + "." + parts[1]
				mac := hmac.New(sha256.New, key)
				mac.Write([]byte(signing))
				return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
			}
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			enc := base64.RawURLEncoding.EncodeToString
			other := map[string]string{"ES256": "EdDSA", "EdDSA": "ES256"}[alg]

			tests := []struct{ name, tok string }{
				{"alg none, no signature", header("none") + "." + parts[1] + "."},
				{"alg none, real signature", header("none") + "." + parts[1] + "." + parts[2]},
				{"relabelled RS256", header("RS256") + "." + parts[1] + "." + parts[2]},
				{"relabelled " + other, header(other) + "." + parts[1] + "." + parts[2]},
				{"HS256 keyed with the JWK", hs256(jwks.Keys[0])},
				{"all-zero signature", parts[0] + "." + parts[1] + "." + enc(make([]byte, len(sig)))},
				{"signature one byte short", parts[0] + "." + parts[1] + "." + enc(sig[:len(sig)-1])},
				{"signature one byte long", parts[0] + "." + parts[1] + "." + enc(append(sig, 0))},
				{"empty signature", parts[0] + "." + parts[1] + "."},
				{"RSA-sized signature", parts[0] + "." + parts[1] + "." + enc(make([]byte, 256))},
			}
			for _, tt := range tests {
				if code := d.bearerCode(t, d.Admin.ID, tt.tok); code != "tokenInvalid" {
					t.Errorf("%s: %s, want tokenInvalid", tt.name, code)
				}
			}
			if code := d.bearerCode(t, d.Admin.ID, good); code != "" {
				t.Errorf("the genuine token: %s", code)
			}
		})
	}
}
