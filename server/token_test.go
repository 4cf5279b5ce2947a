package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

func decodeJWT(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestTokenSuccess(t *testing.T) {
	d := newDC(t, testdc.Options{})
	c, cred := d.CreateClient(api.CreateClientRequest{Data: json.RawMessage(`{"client_name":"App"}`)})
	for _, path := range []string{"/bc/idp/token", "/api/2/idp/token"} {
		t.Run(path, func(t *testing.T) {
			r := d.PostForm(path, url.Values{"grant_type": {"client_credentials"}}, testkit.Basic(cred.ID, cred.Secret))
			if r.Status != http.StatusOK {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if got := r.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q", got)
			}
			if got := r.Header.Get("Pragma"); got != "no-cache" {
				t.Errorf("Pragma = %q", got)
			}
			var raw map[string]json.RawMessage
			r.JSON(t, &raw)
			for _, k := range []string{"expires_in", "expires_on"} {
				if !regexp.MustCompile(`^[0-9]+$`).Match(raw[k]) {
					t.Errorf("%s = %s, want a JSON integer", k, raw[k])
				}
			}
			var tr api.TokenResponse
			r.JSON(t, &tr)
			if tr.TokenType != "bearer" || tr.ExpiresIn != 7200 || tr.IDToken == "" {
				t.Errorf("token response = %+v", tr)
			}
			h, cl := decodeJWT(t, tr.AccessToken)
			if h["alg"] != "RS256" || h["typ"] != "at+jwt" || h["kid"] == nil {
				t.Errorf("access token header = %v", h)
			}
			if _, ok := h["nri"]; ok {
				t.Error("access token has an nri header")
			}
			u, _ := url.Parse(d.URL)
			want := map[string]any{
				"iss": d.URL + "/bc", "aud": u.Host, "sub": c.ClientID, "client_id": c.ClientID,
				"owner_tuid": c.TenantID, "sub_type": "api_client", "ver": json.Number("2"),
			}
			for k, v := range want {
				if cl[k] != v {
					t.Errorf("claim %s = %v, want %v", k, cl[k], v)
				}
			}
			if !uuidRE.MatchString(cl["jti"].(string)) {
				t.Errorf("jti %v is not a UUID", cl["jti"])
			}
			if exp := cl["exp"].(json.Number).String(); exp != string(raw["expires_on"]) {
				t.Errorf("exp %s != expires_on %s", exp, raw["expires_on"])
			}
			if _, ok := cl["scope"].([]any); !ok {
				t.Errorf("scope = %v, want an array", cl["scope"])
			}
			ih, icl := decodeJWT(t, tr.IDToken)
			if ih["typ"] != "JWT" || ih["alg"] != "RS256" || icl["aud"] != c.ClientID || icl["sub"] != c.ClientID || icl["iss"] != d.URL+"/bc" {
				t.Errorf("id token = %v %v", ih, icl)
			}
		})
	}

	t.Run("admin scope", func(t *testing.T) {
		_, cl := decodeJWT(t, d.AdminToken())
		scope := cl["scope"].([]any)
		if len(scope) != 1 {
			t.Fatalf("scope = %v", scope)
		}
		g := scope[0].(map[string]any)
		if g["role"] != "tenant_admin" || g["rn"] != "account-server" || g["tuid"] != cl["owner_tuid"] {
			t.Errorf("grant = %v", g)
		}
	})

	// RFC 6749 3.2: the token request's parameters are POST form
	// parameters. The platform's diagram shows grant_type in the URL; a
	// client that does this is told so, on both paths.
	for _, path := range []string{"/bc/idp/token", "/api/2/idp/token"} {
		t.Run("grant_type in the query string "+path, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, d.URL+path+"?grant_type=client_credentials", nil)
			req.Header.Set("Authorization", testkit.Basic(cred.ID, cred.Secret))
			r := testkit.Do(t, http.DefaultClient, req)
			var e api.OAuthError
			r.JSON(t, &e)
			if r.Status != http.StatusBadRequest || e.Error != "invalid_request" || !strings.Contains(e.ErrorDescription, "grant_type") {
				t.Errorf("status %d: %s", r.Status, r.Body)
			}
		})
	}

	t.Run("unencoded Basic credentials are the same bytes", func(t *testing.T) {
		raw := "Basic " + base64.StdEncoding.EncodeToString([]byte(cred.ID+":"+cred.Secret))
		if r := d.PostForm("/bc/idp/token", url.Values{"grant_type": {"client_credentials"}}, raw); r.Status != http.StatusOK {
			t.Errorf("status %d: %s", r.Status, r.Body)
		}
	})
}

func TestTokenClientSecretPost(t *testing.T) {
	d := newDC(t, testdc.Options{})
	_, post := d.CreateClient(api.CreateClientRequest{TokenEndpointAuthMethod: "client_secret_post"})
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {post.ID}, "client_secret": {post.Secret}}
	if r := d.PostForm("/bc/idp/token", form, ""); r.Status != http.StatusOK {
		t.Fatalf("post client with post method: %d %s", r.Status, r.Body)
	}
	if r := d.PostForm("/bc/idp/token", url.Values{"grant_type": {"client_credentials"}}, testkit.Basic(post.ID, post.Secret)); r.Status != http.StatusUnauthorized {
		t.Errorf("post client with Basic: %d, want 401", r.Status)
	}
	_, b := d.CreateClient(api.CreateClientRequest{})
	form = url.Values{"grant_type": {"client_credentials"}, "client_id": {b.ID}, "client_secret": {b.Secret}}
	if r := d.PostForm("/bc/idp/token", form, ""); r.Status != http.StatusUnauthorized {
		t.Errorf("basic client with post method: %d, want 401", r.Status)
	}
}

func TestTokenErrors(t *testing.T) {
	d := newDC(t, testdc.Options{})
	_, good := d.CreateClient(api.CreateClientRequest{})
	_, disabled := d.CreateClient(api.CreateClientRequest{})
	_, deleted := d.CreateClient(api.CreateClientRequest{})
	admin := d.AdminToken()
	if r := d.Call(http.MethodPut, "/api/2/clients/"+disabled.ID, admin, map[string]string{"status": "disabled"}); r.Status != 200 {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	if r := d.Call(http.MethodDelete, "/api/2/clients/"+deleted.ID, admin, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	tests := []struct {
		name   string
		form   url.Values
		auth   string
		status int
		code   string
	}{
		{"no credentials", cc, "", 401, "invalid_client"},
		{"unknown client", cc, testkit.Basic("nobody", good.Secret), 401, "invalid_client"},
		{"wrong secret", cc, testkit.Basic(good.ID, good.Secret+"x"), 401, "invalid_client"},
		{"empty secret", cc, testkit.Basic(good.ID, ""), 401, "invalid_client"},
		{"disabled client", cc, testkit.Basic(disabled.ID, disabled.Secret), 401, "invalid_client"},
		{"deleted client", cc, testkit.Basic(deleted.ID, deleted.Secret), 401, "invalid_client"},
		{"Basic not base64", cc, "Basic !!!", 401, "invalid_client"},
		{"Basic without colon", cc, "Basic " + base64.StdEncoding.EncodeToString([]byte("abc")), 401, "invalid_client"},
		{"Basic bad percent-encoding", cc, "Basic " + base64.StdEncoding.EncodeToString([]byte("%zz:x")), 401, "invalid_client"},
		{"missing grant_type", url.Values{}, testkit.Basic(good.ID, good.Secret), 400, "invalid_request"},
		{"empty grant_type", url.Values{"grant_type": {""}}, testkit.Basic(good.ID, good.Secret), 400, "invalid_request"},
		{"repeated grant_type", url.Values{"grant_type": {"client_credentials", "client_credentials"}}, testkit.Basic(good.ID, good.Secret), 400, "invalid_request"},
		{"password grant", url.Values{"grant_type": {"password"}}, testkit.Basic(good.ID, good.Secret), 400, "unsupported_grant_type"},
		{"authorization_code grant", url.Values{"grant_type": {"authorization_code"}}, testkit.Basic(good.ID, good.Secret), 400, "unsupported_grant_type"},
		{"two methods", url.Values{"grant_type": {"client_credentials"}, "client_id": {good.ID}, "client_secret": {good.Secret}}, testkit.Basic(good.ID, good.Secret), 400, "invalid_request"},
	}
	var bodies401 []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := d.PostForm("/bc/idp/token", tc.form, tc.auth)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			var e api.OAuthError
			r.JSON(t, &e)
			if e.Error != tc.code {
				t.Errorf("error = %q, want %q", e.Error, tc.code)
			}
			if tc.status == 401 {
				if got := r.Header.Get("WWW-Authenticate"); got != `Basic realm="gatehouse"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				bodies401 = append(bodies401, string(r.Body))
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("error without Cache-Control: no-store")
			}
		})
	}
	for _, b := range bodies401 {
		if b != bodies401[0] {
			t.Errorf("401 bodies differ: %q vs %q", b, bodies401[0])
		}
	}

	t.Run("other methods", func(t *testing.T) {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			req, _ := http.NewRequest(m, d.URL+"/bc/idp/token", nil)
			r := testkit.Do(t, http.DefaultClient, req)
			if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" {
				t.Errorf("%s: %d Allow=%q", m, r.Status, r.Header.Get("Allow"))
			}
		}
	})
	t.Run("invalid form encoding", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, d.URL+"/bc/idp/token", strings.NewReader("grant_type=%zz"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", testkit.Basic(good.ID, good.Secret))
		if r := testkit.Do(t, http.DefaultClient, req); r.Status != http.StatusBadRequest {
			t.Errorf("status %d: %s", r.Status, r.Body)
		}
	})
	t.Run("oversized body", func(t *testing.T) {
		body := "grant_type=client_credentials&pad=" + strings.Repeat("a", 2<<20)
		req, _ := http.NewRequest(http.MethodPost, d.URL+"/bc/idp/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", testkit.Basic(good.ID, good.Secret))
		if r := testkit.Do(t, http.DefaultClient, req); r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d: %s", r.Status, r.Body)
		}
	})
}

// The token path must not write: last access is recorded lazily, yet shows
// up in the API at once and reaches the store in the background.
func TestLastAccess(t *testing.T) {
	d := newDC(t, testdc.Options{})
	c, cred := d.CreateClient(api.CreateClientRequest{})
	admin := d.AdminToken()
	var got api.Client
	r := d.Call(http.MethodGet, "/api/2/clients/"+c.ClientID, admin, nil)
	if !bytes.Contains(r.Body, []byte(`"last_access_at":null`)) || !bytes.Contains(r.Body, []byte(`"last_access_from_ip":null`)) {
		t.Fatalf("before first use: %s", r.Body)
	}
	d.Token(cred)
	d.Call(http.MethodGet, "/api/2/clients/"+c.ClientID, admin, nil).JSON(t, &got)
	if got.LastAccessAt == nil || got.LastAccessFromIP == nil || *got.LastAccessFromIP != "127.0.0.1" {
		t.Fatalf("after use: %+v", got)
	}
	// Two rounds of background writes later, one of them begun after the
	// token, the access is in the store.
	d.Flushed.Wait(t, 2, "two rounds of background writes")
	stored, err := d.Store.GetClient(t.Context(), c.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.LastAccessAt.IsZero() {
		t.Fatal("last access never reached the store")
	}
	// Once written, it no longer comes from memory; a cached copy of the
	// client from before must not hide it.
	var after api.Client
	d.Call(http.MethodGet, "/api/2/clients/"+c.ClientID, admin, nil).JSON(t, &after)
	if after.LastAccessAt == nil || after.LastAccessFromIP == nil {
		t.Errorf("after the write: %+v", after)
	}
}
