package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
)

type creds struct{ id, secret string }

// dc is one data center served over real HTTP on a loopback listener (see
// internal/testdc), with this package's request helpers.
type dc struct {
	*testdc.DataCenter
	t     *testing.T
	admin creds
}

type dcOptions struct {
	dir   string
	admin creds
	alg   string // signing algorithm; RS256 if ""
}

// newDC starts a data center on a fresh SQLite file with a bootstrapped
// admin client.
func newDC(t *testing.T, opt dcOptions) *dc {
	t.Helper()
	d := testdc.Start(t, testdc.Options{Dir: opt.dir, AdminID: opt.admin.id, AdminSecret: opt.admin.secret, SigningAlgorithm: opt.alg})
	return &dc{DataCenter: d, t: t, admin: creds{d.AdminID, d.AdminSecret}}
}

type response struct {
	Status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
}

func (r response) apiError(t *testing.T) api.ErrorDetail {
	t.Helper()
	var e api.ErrorBody
	r.json(t, &e)
	return e.Error
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, b}
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// tokenRequest posts a form to the token endpoint with optional Basic auth.
func (d *dc) tokenRequest(path string, form url.Values, authorization string) response {
	d.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return do(d.t, req)
}

// token gets an access token for c, failing the test otherwise.
func (d *dc) token(c creds) api.TokenResponse {
	d.t.Helper()
	r := d.tokenRequest("/bc/idp/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.id, c.secret))
	if r.Status != http.StatusOK {
		d.t.Fatalf("token for %s: %d %s", c.id, r.Status, r.body)
	}
	var tr api.TokenResponse
	r.json(d.t, &tr)
	return tr
}

// call sends an account-API request with a bearer token ("" for none).
func (d *dc) call(method, path, bearer string, body any) response {
	d.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, d.URL+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return do(d.t, req)
}

// adminToken is a fresh access token of the bootstrap admin.
func (d *dc) adminToken() string { return d.token(d.admin).AccessToken }

// createClient creates a client as the admin and returns it with its secret.
func (d *dc) createClient(req api.CreateClientRequest) (api.Client, creds) {
	d.t.Helper()
	if req.Type == "" {
		req.Type = "api_client"
	}
	r := d.call(http.MethodPost, "/api/2/clients", d.adminToken(), req)
	if r.Status != http.StatusCreated {
		d.t.Fatalf("create client: %d %s", r.Status, r.body)
	}
	var c api.Client
	r.json(d.t, &c)
	return c, creds{c.ClientID, c.ClientSecret}
}
