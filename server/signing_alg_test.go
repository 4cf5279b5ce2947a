package server_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/service"
)

func (d *dc) discoveredAlgorithms() []string {
	d.t.Helper()
	var doc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	d.call(http.MethodGet, "/bc/.well-known/openid-configuration", "", nil).json(d.t, &doc)
	return doc.Algs
}

func (d *dc) jwks() []map[string]any {
	d.t.Helper()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	d.call(http.MethodGet, "/bc/idp/keys", "", nil).json(d.t, &set)
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
			d := newDC(t, dcOptions{alg: tt.alg})
			c, cred := d.createClient(api.CreateClientRequest{})
			tr := d.token(cred)
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
			if r := d.call(http.MethodGet, "/api/2/clients/"+c.ClientID, tr.AccessToken, nil); r.status != http.StatusOK {
				t.Errorf("bearer call: %d %s", r.status, r.body)
			}
			r := d.idpPost("/bc/idp/introspect_token", basic(cred.id, cred.secret), url.Values{"token": {tr.AccessToken}})
			if r.status != http.StatusOK || !strings.Contains(string(r.body), `"active":true`) {
				t.Errorf("introspection: %d %s", r.status, r.body)
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
			if _, err := p.Verifier(&oidc.Config{ClientID: cred.id}).Verify(ctx, tr.IDToken); err != nil {
				t.Errorf("go-oidc: %v", err)
			}

			var list api.KeyList
			d.call(http.MethodGet, "/api/2/keys", d.adminToken(), nil).json(t, &list)
			if len(list.Items) != 1 || list.Items[0].Algorithm != tt.alg {
				t.Errorf("GET /api/2/keys: %+v", list.Items)
			}

			spec, _ := oaLoad(t, d.URL)
			for _, path := range []string{"/bc/idp/keys", "/bc/.well-known/openid-configuration"} {
				spec.do(t, d.URL, oaGet(path, http.StatusOK))
			}
			spec.do(t, d.URL, oaJSON(http.MethodGet, "/api/2/keys", d.adminToken(), nil, http.StatusOK))
		})
	}
}

// Changing the signing algorithm of a running data center is a rotation:
// the new key is published at the next start and signs only after the
// publish delay, tokens of the old key stay valid, and starting again with
// the same setting changes nothing.
func TestSigningAlgorithmSwitch(t *testing.T) {
	d := newDC(t, dcOptions{})
	before := d.adminToken()
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
	if alg := algOf(t, d.adminToken()); alg != "RS256" {
		t.Errorf("a token during the publish delay is signed %s, want RS256", alg)
	}
	var audit api.AuditList
	d.call(http.MethodGet, "/api/2/audit", d.adminToken(), nil).json(t, &audit)
	if len(audit.Items) == 0 || audit.Items[0].Action != service.ActionKeyRotate || audit.Items[0].ActorID != service.SystemActor {
		t.Errorf("newest audit entry %+v, want a key rotation by the system", audit.Items[:min(1, len(audit.Items))])
	}

	d.Clock.Advance(6*time.Minute + time.Second)
	after := d.adminToken()
	if alg := algOf(t, after); alg != "EdDSA" {
		t.Errorf("a token after the publish delay is signed %s, want EdDSA", alg)
	}
	if got := d.discoveredAlgorithms(); !slices.Equal(got, []string{"EdDSA", "RS256"}) {
		t.Errorf("discovery after the switch: %v", got)
	}
	for name, tok := range map[string]string{"old RS256": before, "new EdDSA": after} {
		if r := d.call(http.MethodGet, "/api/2/clients/"+d.admin.id, tok, nil); r.status != http.StatusOK {
			t.Errorf("%s token: %d %s", name, r.status, r.body)
		}
	}

	d.Restart()
	if keys := d.jwks(); len(keys) != 2 {
		t.Errorf("a restart with the same algorithm changed the key set: %v", keys)
		t.Log(d.Logs.String())
	}
}
