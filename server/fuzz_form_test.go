package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
)

// The fuzz server's admin has fixed credentials, so that corpus entries
// that carry them keep reaching the token-issuing path from run to run.
const (
	fuzzAdminID     = "fuzz-admin"
	fuzzAdminSecret = "fuzz-admin-secret-0123456789-abcdefghijklmnopq"
)

// In fuzz inputs these placeholders stand for the client_secret_post
// client's id and secret, which the service generates afresh in every
// process, so that corpus entries using them stay meaningful too.
const (
	fuzzPostID     = "$POST_ID"
	fuzzPostSecret = "$POST_SECRET"
)

// fuzzServer starts a data center in this process, with its admin and one
// client_secret_post client (returned as id, secret), and returns its
// handler for the fuzzer to call directly.
func fuzzServer(tb testing.TB) (s http.Handler, postID, postSecret string) {
	tb.Helper()
	d := testdc.Start(tb, testdc.Options{
		AdminID: fuzzAdminID, AdminSecret: fuzzAdminSecret, DatacenterID: "fuzz",
		// A limit no fuzzer reaches: with the default, a few dozen wrong
		// secrets from the recorder's one address would turn every later
		// input into a 429 and hide the credential checks from the fuzzer.
		// (429 is still an allowed answer; the limiter has its own tests.)
		AuthFailureLimit: 1 << 30,
	})
	s = d.Handler()
	// The post client is created through the API, as an operator would.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/bc/idp/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", fuzzBasic(fuzzAdminID, fuzzAdminSecret))
	s.ServeHTTP(rec, req)
	var tr api.TokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil || tr.AccessToken == "" {
		tb.Fatalf("admin token: %d %s", rec.Code, rec.Body)
	}
	body, _ := json.Marshal(api.CreateClientRequest{Type: gatehouse.ClientType, TokenEndpointAuthMethod: string(gatehouse.AuthSecretPost)})
	rec = httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodPost, "/api/2/clients", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
	s.ServeHTTP(rec, req)
	var c api.Client
	if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil || c.ClientSecret == "" {
		tb.Fatalf("create client: %d %s", rec.Code, rec.Body)
	}
	return s, c.ClientID, c.ClientSecret
}

func fuzzBasic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// FuzzParseForm drives the token endpoint (form and query parsing, client
// authentication, the grant checks, then the service) with a fuzzed query
// string, body and Authorization header (one header per line). Whatever
// comes in, the answer is one of the token endpoint's documented ones:
// never a 5xx, always no-store, RFC 6749 JSON for every refusal, never a
// client secret in the answer, and a token only for an unambiguous request
// whose parameters are all in the body.
func FuzzParseForm(f *testing.F) {
	s, postID, postSecret := fuzzServer(f)
	admin := fuzzBasic(fuzzAdminID, fuzzAdminSecret)
	cc := "grant_type=client_credentials"
	post := "&client_id=" + fuzzPostID + "&client_secret=" + fuzzPostSecret
	for _, seed := range [][3]string{
		{"", cc, admin},
		{"", cc + post, ""},
		{cc, "", admin},
		{"scope=x", cc, admin},
		{"tracking=1", cc, admin},
		{"", cc, "Basic !!!"},
		{"", cc, "basic " + base64.StdEncoding.EncodeToString([]byte(fuzzAdminID+":"))},
		{"", cc, "Basic " + base64.StdEncoding.EncodeToString([]byte("%zz:x"))},
		{"", cc, "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+fuzzAdminSecret))},
		{"", cc, admin + "\n" + admin},
		{"", cc, "Bearer x.y.z"},
		{"", cc + post, admin},
		{"client_secret=" + fuzzAdminSecret, cc, admin},
		{"client_id=" + fuzzPostID, cc + "&client_secret=" + fuzzPostSecret, ""},
		{"", cc + "&" + cc, admin},
		{cc, cc, admin},
		{"", "grant_type=password", admin},
		{"", "grant_type=", admin},
		{"", "", admin},
		{"", cc + post + "&client_id=" + fuzzPostID, ""},
		{"", cc + post + "&client_secret=x", ""},
		{"", cc + "&client_id=" + fuzzPostID, ""},
		{"", "%zz", admin},
		{"a=%", cc, admin},
		{"", cc + ";x=1", admin},
		{"", "grant_type=client%5Fcredentials", admin},
		{"", "grant_type=client_credentials\x00", admin},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	secrets := []string{fuzzAdminSecret, postSecret}
	f.Fuzz(func(t *testing.T, query, body, authorization string) {
		query = strings.NewReplacer(fuzzPostID, url.QueryEscape(postID), fuzzPostSecret, url.QueryEscape(postSecret)).Replace(query)
		body = strings.NewReplacer(fuzzPostID, url.QueryEscape(postID), fuzzPostSecret, url.QueryEscape(postSecret)).Replace(body)
		req := httptest.NewRequest(http.MethodPost, "/bc/idp/token", strings.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authorization != "" {
			req.Header["Authorization"] = strings.Split(authorization, "\n")
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)

		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("status %d without Cache-Control: no-store", rec.Code)
		}
		for _, secret := range secrets {
			if strings.Contains(rec.Body.String(), secret) {
				t.Fatalf("the answer carries a client secret: %s", rec.Body)
			}
		}
		if rec.Code != http.StatusOK {
			var e api.OAuthError
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.ErrorDescription == "" {
				t.Fatalf("status %d with body %q, not an RFC 6749 error", rec.Code, rec.Body)
			}
			switch e.Error {
			case "invalid_request", "invalid_client", "unsupported_grant_type", "temporarily_unavailable":
			default:
				t.Fatalf("error code %q", e.Error)
			}
			if wa := rec.Header().Get("WWW-Authenticate"); (rec.Code == http.StatusUnauthorized) != (wa != "") {
				t.Errorf("status %d with WWW-Authenticate %q", rec.Code, wa)
			}
			return
		}

		// A token was issued: the request must have been unambiguous.
		var tr api.TokenResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil || tr.AccessToken == "" || tr.TokenType != "bearer" {
			t.Fatalf("200 with body %q", rec.Body)
		}
		// The form as the endpoint parsed it: the body alone (a 200 means
		// it parsed). Its parameters never count from the query string.
		postForm, _ := url.ParseQuery(body)
		if gt := postForm["grant_type"]; len(gt) != 1 || gt[0] != "client_credentials" {
			t.Errorf("issued a token for grant_type %q in the body", gt)
		}
		q := req.URL.Query()
		for _, param := range []string{"grant_type", "scope", "client_id", "client_secret"} {
			if q.Has(param) {
				t.Errorf("issued a token with %s in the query string %q", param, query)
			}
		}
		auth := req.Header.Values("Authorization")
		scheme, _, _ := strings.Cut(strings.Join(auth, ""), " ")
		basic := len(auth) == 1 && strings.EqualFold(scheme, "Basic")
		_, postSecretSent := postForm["client_secret"]
		if basic == postSecretSent { // one method, exactly
			t.Errorf("issued a token with Basic=%v and client_secret_post=%v", basic, postSecretSent)
		}
	})
}
