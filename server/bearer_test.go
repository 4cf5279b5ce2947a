package server_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/token"
)

// forge re-signs the admin's token, changed by mutate (see testdc.Forge).
func (d *dc) forge(typ string, mutate func(*token.AccessClaims)) string {
	d.t.Helper()
	return d.Forge(d.adminToken(), typ, mutate)
}

func b64(v any) string { return testdc.B64(v) }

func TestBearerChecks(t *testing.T) {
	d := newDC(t, dcOptions{})
	other := newDC(t, dcOptions{admin: d.admin}) // same credentials, another data center
	admin := d.admin
	good := d.adminToken()
	parts := strings.Split(good, ".")
	kid, key := d.SigningKey()
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	_, claims := decodeJWT(t, good)

	hs256 := func() string {
		h := b64(map[string]string{"alg": "HS256", "typ": "at+jwt", "kid": kid})
		signing := h + "." + parts[1]
		mac := hmac.New(sha256.New, pubDER)
		mac.Write([]byte(signing))
		return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}()
	none := b64(map[string]string{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + parts[1] + "."
	unknownKid := b64(map[string]string{"alg": "RS256", "typ": "at+jwt", "kid": "nope"}) + "." + parts[1] + "." + parts[2]
	stripped := parts[0] + "." + parts[1] + "."
	tampered := func() string {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		c["sub"], c["client_id"] = "someone-else", "someone-else"
		return parts[0] + "." + b64(c) + "." + parts[2]
	}()
	foreignIssuer := d.forge("at+jwt", func(c *token.AccessClaims) { c.Issuer = "https://evil.example/bc" })
	wrongAud := d.forge("at+jwt", func(c *token.AccessClaims) { c.Audience = jwt.Audience{"elsewhere.example"} })
	noExp := d.forge("at+jwt", func(c *token.AccessClaims) { c.Expiry = nil })
	future := d.forge("at+jwt", func(c *token.AccessClaims) {
		c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour))
	})
	idToken := d.token(admin).IDToken
	plainJWT := d.forge("JWT", func(*token.AccessClaims) {})

	tests := []struct {
		name   string
		header string // the whole Authorization header; "" sends none
		code   string
	}{
		{"no header", "", "bearerTokenMissing"},
		{"empty bearer", "Bearer ", "bearerTokenMissing"},
		{"Basic instead of Bearer", basic(admin.id, admin.secret), "bearerTokenMissing"},
		{"garbage", "Bearer garbage", "tokenMalformed"},
		{"two segments", "Bearer a.b", "tokenMalformed"},
		{"bad base64", "Bearer !!.!!.!!", "tokenMalformed"},
		{"header not JSON", "Bearer " + base64.RawURLEncoding.EncodeToString([]byte("{")) + "." + parts[1] + "." + parts[2], "tokenMalformed"},
		{"too long", "Bearer " + strings.Repeat("a", 9000), "tokenMalformed"},
		{"JWE", "Bearer a.b.c.d.e", "tokenMalformed"},
		{"other data center", "Bearer " + other.adminToken(), "tokenIssuerMismatch"},
		{"foreign issuer", "Bearer " + foreignIssuer, "tokenIssuerMismatch"},
		{"alg none", "Bearer " + none, "tokenInvalid"},
		{"HS256 with the public key", "Bearer " + hs256, "tokenInvalid"},
		{"unknown kid", "Bearer " + unknownKid, "tokenInvalid"},
		{"stripped signature", "Bearer " + stripped, "tokenInvalid"},
		{"tampered claims", "Bearer " + tampered, "tokenInvalid"},
		{"wrong audience", "Bearer " + wrongAud, "tokenInvalid"},
		{"no expiry", "Bearer " + noExp, "tokenInvalid"},
		{"not yet valid", "Bearer " + future, "tokenInvalid"},
		{"ID token", "Bearer " + idToken, "tokenInvalid"},
		{"typ JWT", "Bearer " + plainJWT, "tokenInvalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, d.URL+"/api/2/clients/"+admin.id, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			r := do(t, req)
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("status %d: %s", r.Status, r.body)
			}
			e := r.apiError(t)
			if e.Code != tc.code || e.Domain != "AccountServer" || e.Message == "" {
				t.Errorf("error = %+v, want code %s", e, tc.code)
			}
			wa := r.header.Get("WWW-Authenticate")
			if tc.code == "bearerTokenMissing" {
				if wa != `Bearer realm="gatehouse"` {
					t.Errorf("WWW-Authenticate = %q", wa)
				}
			} else if !strings.HasPrefix(wa, `Bearer realm="gatehouse", error="invalid_token", error_description="`) {
				t.Errorf("WWW-Authenticate = %q", wa)
			}
			if strings.Contains(string(r.body), parts[2]) {
				t.Error("error body echoes the token")
			}
		})
	}

	t.Run("issuer mismatch names the expected issuer", func(t *testing.T) {
		r := d.call(http.MethodGet, "/api/2/clients/"+admin.id, other.adminToken(), nil)
		if e := r.apiError(t); !strings.Contains(e.Message, d.URL+"/bc") || !strings.Contains(e.Message, other.URL+"/bc") {
			t.Errorf("message %q does not name both issuers", e.Message)
		}
	})

	t.Run("expired", func(t *testing.T) {
		tok := d.adminToken()
		d.Clock.Advance(2*time.Hour + 31*time.Second)
		defer d.Clock.Advance(-(2*time.Hour + 31*time.Second))
		r := d.call(http.MethodGet, "/api/2/clients/"+admin.id, tok, nil)
		if r.Status != 401 || r.apiError(t).Code != "tokenExpired" {
			t.Errorf("%d %s", r.Status, r.body)
		}
	})

	t.Run("within leeway", func(t *testing.T) {
		tok := d.adminToken()
		d.Clock.Advance(2*time.Hour + 20*time.Second)
		defer d.Clock.Advance(-(2*time.Hour + 20*time.Second))
		if r := d.call(http.MethodGet, "/api/2/clients/"+admin.id, tok, nil); r.Status != 200 {
			t.Errorf("%d %s", r.Status, r.body)
		}
	})
}

// Disabling, regenerating and deleting act on live tokens at once, even on
// a token minted in the same second as the change.
func TestClientStateOnLiveTokens(t *testing.T) {
	d := newDC(t, dcOptions{})
	admin := d.adminToken()
	get := func(tok, id string) (int, string) {
		r := d.call(http.MethodGet, "/api/2/clients/"+id, tok, nil)
		if r.Status == 200 {
			return 200, ""
		}
		return r.Status, r.apiError(t).Code
	}
	setStatus := func(id, st string) {
		if r := d.call(http.MethodPut, "/api/2/clients/"+id, admin, map[string]string{"status": st}); r.Status != 200 {
			t.Fatalf("set %s: %d %s", st, r.Status, r.body)
		}
	}

	t.Run("disable then enable", func(t *testing.T) {
		c, cred := d.createClient(api.CreateClientRequest{})
		old := d.token(cred).AccessToken
		setStatus(c.ClientID, "disabled")
		if s, code := get(old, c.ClientID); s != 401 || code != "clientDisabled" {
			t.Errorf("disabled: %d %s", s, code)
		}
		setStatus(c.ClientID, "enabled")
		if s, code := get(old, c.ClientID); s != 401 || code != "tokenRevoked" {
			t.Errorf("re-enabled, old token: %d %s", s, code)
		}
		if s, code := get(d.token(cred).AccessToken, c.ClientID); s != 200 {
			t.Errorf("re-enabled, new token: %d %s", s, code)
		}
	})

	t.Run("regenerate", func(t *testing.T) {
		c, cred := d.createClient(api.CreateClientRequest{})
		old := d.token(cred).AccessToken
		r := d.call(http.MethodPost, "/api/2/clients/"+c.ClientID+"/secret", admin, nil)
		if r.Status != 200 || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("regenerate: %d %s", r.Status, r.body)
		}
		var sr api.SecretResponse
		r.json(t, &sr)
		if sr.ClientID != c.ClientID || len(sr.ClientSecret) < 43 || sr.ClientSecret == cred.secret {
			t.Fatalf("regenerate answer = %+v", sr)
		}
		if s, code := get(old, c.ClientID); s != 401 || code != "tokenRevoked" {
			t.Errorf("old token: %d %s", s, code)
		}
		if r := d.tokenRequest("/bc/idp/token", url.Values{"grant_type": {"client_credentials"}}, basic(cred.id, cred.secret)); r.Status != 401 {
			t.Errorf("old secret: %d", r.Status)
		}
		if s, code := get(d.token(creds{c.ClientID, sr.ClientSecret}).AccessToken, c.ClientID); s != 200 {
			t.Errorf("new secret's token: %d %s", s, code)
		}
	})

	t.Run("delete", func(t *testing.T) {
		c, cred := d.createClient(api.CreateClientRequest{})
		old := d.token(cred).AccessToken
		if r := d.call(http.MethodDelete, "/api/2/clients/"+c.ClientID, admin, nil); r.Status != 204 || len(r.body) != 0 {
			t.Fatalf("delete: %d %s", r.Status, r.body)
		}
		if s, code := get(old, c.ClientID); s != 401 || code != "clientNotFound" {
			t.Errorf("deleted: %d %s", s, code)
		}
		if s, _ := get(admin, c.ClientID); s != 404 {
			t.Errorf("admin GET deleted: %d", s)
		}
	})

	t.Run("expired beats deleted", func(t *testing.T) {
		c, cred := d.createClient(api.CreateClientRequest{})
		old := d.token(cred).AccessToken
		d.call(http.MethodDelete, "/api/2/clients/"+c.ClientID, admin, nil)
		d.Clock.Advance(3 * time.Hour)
		defer d.Clock.Advance(-3 * time.Hour)
		if s, code := get(old, c.ClientID); code != "tokenExpired" {
			t.Errorf("%d %s", s, code)
		}
	})
}
