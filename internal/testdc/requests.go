package testdc

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/token"
)

// Creds are a client's credentials.
type Creds struct{ ID, Secret string }

// PostForm posts a form to an IdP endpoint with an Authorization header
// ("" sends none).
func (d *DataCenter) PostForm(path string, form url.Values, authorization string) testkit.Response {
	d.t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return testkit.Do(d.t, http.DefaultClient, req)
}

// Token gets an access token for c, failing the test otherwise.
func (d *DataCenter) Token(c Creds) api.TokenResponse {
	d.t.Helper()
	r := d.PostForm("/bc/idp/token", url.Values{"grant_type": {"client_credentials"}}, testkit.Basic(c.ID, c.Secret))
	if r.Status != http.StatusOK {
		d.t.Fatalf("token for %s: %d %s", c.ID, r.Status, r.Body)
	}
	var tr api.TokenResponse
	r.JSON(d.t, &tr)
	return tr
}

// Call sends an account-API request with a bearer token ("" for none); a
// string body is sent as it is, any other but nil as JSON.
func (d *DataCenter) Call(method, path, bearer string, body any) testkit.Response {
	d.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			d.t.Fatalf("request body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, d.URL+path, rd)
	if err != nil {
		d.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return testkit.Do(d.t, http.DefaultClient, req)
}

// AdminToken is a fresh access token of the bootstrap admin.
func (d *DataCenter) AdminToken() string { return d.Token(d.Admin).AccessToken }

// CreateClient creates a client as the admin (an api_client unless req
// says otherwise) and returns it with its credentials.
func (d *DataCenter) CreateClient(req api.CreateClientRequest) (api.Client, Creds) {
	d.t.Helper()
	if req.Type == "" {
		req.Type = "api_client"
	}
	r := d.Call(http.MethodPost, "/api/2/clients", d.AdminToken(), req)
	if r.Status != http.StatusCreated {
		d.t.Fatalf("create client: %d %s", r.Status, r.Body)
	}
	var c api.Client
	r.JSON(d.t, &c)
	return c, Creds{c.ClientID, c.ClientSecret}
}

// ForgeAdmin is Forge on a fresh token of the admin.
func (d *DataCenter) ForgeAdmin(typ string, mutate func(*token.AccessClaims)) string {
	d.t.Helper()
	return d.Forge(d.AdminToken(), typ, mutate)
}
