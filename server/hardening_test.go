package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// Answers about clients and the audit log, the new secret above all, are
// never kept by a cache on the way.
func TestAccountAnswersAreNotStored(t *testing.T) {
	d := newDC(t, testdc.Options{})
	admin := d.AdminToken()
	c, _ := d.CreateClient(api.CreateClientRequest{})
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", "/api/2/clients", api.CreateClientRequest{Type: "api_client"}, 201},
		{"GET", "/api/2/clients", nil, 200},
		{"GET", "/api/2/clients/" + c.ClientID, nil, 200},
		{"PUT", "/api/2/clients/" + c.ClientID, `{"status":"disabled"}`, 200},
		{"POST", "/api/2/clients/" + c.ClientID + "/secret", nil, 200},
		{"GET", "/api/2/audit", nil, 200},
		{"GET", "/api/2/audit?target=" + url.QueryEscape(c.ClientID), nil, 200},
	} {
		r := d.Call(tc.method, tc.path, admin, tc.body)
		if r.Status != tc.status {
			t.Fatalf("%s %s: status %d, want %d: %s", tc.method, tc.path, r.Status, tc.status, r.Body)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s %s: Cache-Control %q, want no-store", tc.method, tc.path, cc)
		}
	}
}

// Basic authentication names the client; a different client_id in the
// body is a contradiction, refused rather than ignored.
func TestTokenBasicWithAnotherClientIDInTheBody(t *testing.T) {
	d := newDC(t, testdc.Options{})
	_, other := d.CreateClient(api.CreateClientRequest{})
	basic := testkit.Basic(d.Admin.ID, d.Admin.Secret)
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"another client's id", url.Values{"grant_type": {"client_credentials"}, "client_id": {other.ID}}, http.StatusBadRequest, "invalid_request"},
		{"the same client's id", url.Values{"grant_type": {"client_credentials"}, "client_id": {d.Admin.ID}}, http.StatusOK, ""},
		{"no id", url.Values{"grant_type": {"client_credentials"}}, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := d.PostForm("/bc/idp/token", tc.form, basic)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.code != "" {
				var e api.OAuthError
				r.JSON(t, &e)
				if e.Error != tc.code {
					t.Errorf("error %q, want %q", e.Error, tc.code)
				}
			}
		})
	}
}
