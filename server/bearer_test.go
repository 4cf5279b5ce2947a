package server_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/token"
)

func TestBearerChecks(t *testing.T) {
	d := newDC(t, testdc.Options{})
	other := newDC(t, testdc.Options{AdminID: d.Admin.ID, AdminSecret: d.Admin.Secret}) // same credentials, another data center
	admin := d.Admin
	f := d.Forgeries()
	parts := strings.Split(f.Good, ".")
	_, claims := decodeJWT(t, f.Good)

	tampered := func() string {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		c["sub"], c["client_id"] = "someone-else", "someone-else"
		return parts[0] + "." + testdc.B64(c) + "." + parts[2]
	}()
	idToken := d.Token(admin).IDToken
	plainJWT := d.ForgeAdmin("JWT", func(*token.AccessClaims) {})

	tests := []struct {
		name   string
		header string // the whole Authorization header; "" sends none
		code   string
	}{
		{"no header", "", "bearerTokenMissing"},
		{"empty bearer", "Bearer ", "bearerTokenMissing"},
		{"Basic instead of Bearer", testkit.Basic(admin.ID, admin.Secret), "bearerTokenMissing"},
		{"garbage", "Bearer garbage", "tokenMalformed"},
		{"two segments", "Bearer a.b", "tokenMalformed"},
		{"bad base64", "Bearer !!.!!.!!", "tokenMalformed"},
		{"header not JSON", "Bearer " + base64.RawURLEncoding.EncodeToString([]byte("{")) + "." + parts[1] + "." + parts[2], "tokenMalformed"},
		{"too long", "Bearer " + strings.Repeat("a", 9000), "tokenMalformed"},
		{"JWE", "Bearer a.b.c.d.e", "tokenMalformed"},
		{"other data center", "Bearer " + other.AdminToken(), "tokenIssuerMismatch"},
		{"foreign issuer", "Bearer " + f.ForeignIssuer, "tokenIssuerMismatch"},
		{"alg none", "Bearer " + f.None, "tokenInvalid"},
		{"HS256 with the public key", "Bearer " + f.HS256, "tokenInvalid"},
		{"unknown kid", "Bearer " + f.UnknownKid, "tokenInvalid"},
		{"stripped signature", "Bearer " + f.Stripped, "tokenInvalid"},
		{"tampered claims", "Bearer " + tampered, "tokenInvalid"},
		{"wrong audience", "Bearer " + f.WrongAudience, "tokenInvalid"},
		{"no expiry", "Bearer " + f.NoExpiry, "tokenInvalid"},
		{"not yet valid", "Bearer " + f.NotYetValid, "tokenInvalid"},
		{"ID token", "Bearer " + idToken, "tokenInvalid"},
		{"typ JWT", "Bearer " + plainJWT, "tokenInvalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testkit.Get(t, d.URL+"/api/2/clients/"+admin.ID, tc.header).WantBearerRefused(t, tc.code, parts[2])
		})
	}

	t.Run("issuer mismatch names the expected issuer", func(t *testing.T) {
		r := d.Call(http.MethodGet, "/api/2/clients/"+admin.ID, other.AdminToken(), nil)
		if e := r.APIError(t); !strings.Contains(e.Message, d.URL+"/bc") || !strings.Contains(e.Message, other.URL+"/bc") {
			t.Errorf("message %q does not name both issuers", e.Message)
		}
	})

	t.Run("expired", func(t *testing.T) {
		tok := d.AdminToken()
		d.Clock.Advance(2*time.Hour + 31*time.Second)
		defer d.Clock.Advance(-(2*time.Hour + 31*time.Second))
		r := d.Call(http.MethodGet, "/api/2/clients/"+admin.ID, tok, nil)
		if r.Status != 401 || r.APIError(t).Code != "tokenExpired" {
			t.Errorf("%d %s", r.Status, r.Body)
		}
	})

	t.Run("within leeway", func(t *testing.T) {
		tok := d.AdminToken()
		d.Clock.Advance(2*time.Hour + 20*time.Second)
		defer d.Clock.Advance(-(2*time.Hour + 20*time.Second))
		if r := d.Call(http.MethodGet, "/api/2/clients/"+admin.ID, tok, nil); r.Status != 200 {
			t.Errorf("%d %s", r.Status, r.Body)
		}
	})
}

// Disabling, regenerating and deleting act on live tokens at once, even on
// a token minted in the same second as the change.
func TestClientStateOnLiveTokens(t *testing.T) {
	d := newDC(t, testdc.Options{})
	admin := d.AdminToken()
	get := func(tok, id string) (int, string) {
		r := d.Call(http.MethodGet, "/api/2/clients/"+id, tok, nil)
		if r.Status == 200 {
			return 200, ""
		}
		return r.Status, r.APIError(t).Code
	}
	setStatus := func(id, st string) {
		if r := d.Call(http.MethodPut, "/api/2/clients/"+id, admin, map[string]string{"status": st}); r.Status != 200 {
			t.Fatalf("set %s: %d %s", st, r.Status, r.Body)
		}
	}

	t.Run("disable then enable", func(t *testing.T) {
		c, cred := d.CreateClient(api.CreateClientRequest{})
		old := d.Token(cred).AccessToken
		setStatus(c.ClientID, "disabled")
		if s, code := get(old, c.ClientID); s != 401 || code != "clientDisabled" {
			t.Errorf("disabled: %d %s", s, code)
		}
		setStatus(c.ClientID, "enabled")
		if s, code := get(old, c.ClientID); s != 401 || code != "tokenRevoked" {
			t.Errorf("re-enabled, old token: %d %s", s, code)
		}
		if s, code := get(d.Token(cred).AccessToken, c.ClientID); s != 200 {
			t.Errorf("re-enabled, new token: %d %s", s, code)
		}
	})

	t.Run("regenerate", func(t *testing.T) {
		c, cred := d.CreateClient(api.CreateClientRequest{})
		old := d.Token(cred).AccessToken
		r := d.Call(http.MethodPost, "/api/2/clients/"+c.ClientID+"/secret", admin, nil)
		if r.Status != 200 || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("regenerate: %d %s", r.Status, r.Body)
		}
		var sr api.SecretResponse
		r.JSON(t, &sr)
		if sr.ClientID != c.ClientID || len(sr.ClientSecret) < 43 || sr.ClientSecret == cred.Secret {
			t.Fatalf("regenerate answer = %+v", sr)
		}
		if s, code := get(old, c.ClientID); s != 401 || code != "tokenRevoked" {
			t.Errorf("old token: %d %s", s, code)
		}
		if r := d.PostForm("/bc/idp/token", url.Values{"grant_type": {"client_credentials"}}, testkit.Basic(cred.ID, cred.Secret)); r.Status != 401 {
			t.Errorf("old secret: %d", r.Status)
		}
		if s, code := get(d.Token(testdc.Creds{ID: c.ClientID, Secret: sr.ClientSecret}).AccessToken, c.ClientID); s != 200 {
			t.Errorf("new secret's token: %d %s", s, code)
		}
	})

	t.Run("delete", func(t *testing.T) {
		c, cred := d.CreateClient(api.CreateClientRequest{})
		old := d.Token(cred).AccessToken
		if r := d.Call(http.MethodDelete, "/api/2/clients/"+c.ClientID, admin, nil); r.Status != 204 || len(r.Body) != 0 {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		if s, code := get(old, c.ClientID); s != 401 || code != "clientNotFound" {
			t.Errorf("deleted: %d %s", s, code)
		}
		if s, _ := get(admin, c.ClientID); s != 404 {
			t.Errorf("admin GET deleted: %d", s)
		}
	})

	t.Run("expired beats deleted", func(t *testing.T) {
		c, cred := d.CreateClient(api.CreateClientRequest{})
		old := d.Token(cred).AccessToken
		d.Call(http.MethodDelete, "/api/2/clients/"+c.ClientID, admin, nil)
		d.Clock.Advance(3 * time.Hour)
		defer d.Clock.Advance(-3 * time.Hour)
		if s, code := get(old, c.ClientID); code != "tokenExpired" {
			t.Errorf("%d %s", s, code)
		}
	})
}
