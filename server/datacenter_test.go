package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// Two servers with different URLs and stores are two data centers: each
// rejects the other's tokens, even for clients with the same credentials.
func TestTwoDataCenters(t *testing.T) {
	eu := newDC(t, testdc.Options{})
	us := newDC(t, testdc.Options{AdminID: eu.Admin.ID, AdminSecret: eu.Admin.Secret})
	euTok, usTok := eu.AdminToken(), us.AdminToken()
	for _, tc := range []struct {
		name  string
		at    *dc
		tok   string
		other *dc
	}{{"eu token at us", us, euTok, eu}, {"us token at eu", eu, usTok, us}} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.at.Call(http.MethodGet, "/api/2/clients/"+eu.Admin.ID, tc.tok, nil)
			e := r.APIError(t)
			if r.Status != 401 || e.Code != "tokenIssuerMismatch" || !strings.Contains(e.Message, tc.at.URL+"/bc") {
				t.Errorf("%d %s", r.Status, r.Body)
			}
		})
	}
	if r := eu.Call(http.MethodGet, "/api/2/clients/"+eu.Admin.ID, euTok, nil); r.Status != 200 {
		t.Errorf("own token: %d %s", r.Status, r.Body)
	}
	ek, _ := eu.SigningKey()
	uk, _ := us.SigningKey()
	if ek == uk {
		t.Error("two data centers share a signing key")
	}
}

// coreos/go-oidc, a third-party relying party, accepts the issuer and
// verifies the ID token.
func TestGoOIDCVerifiesIDToken(t *testing.T) {
	d := newDC(t, testdc.Options{})
	_, cred := d.CreateClient(api.CreateClientRequest{})
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, d.URL+"/bc")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	tr := d.Token(cred)
	idt, err := p.Verifier(&oidc.Config{ClientID: cred.ID}).Verify(ctx, tr.IDToken)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if idt.Subject != cred.ID || idt.Issuer != d.URL+"/bc" {
		t.Errorf("id token = %+v", idt)
	}
	if _, err := p.Verifier(&oidc.Config{ClientID: "someone-else"}).Verify(ctx, tr.IDToken); err == nil {
		t.Error("ID token verified for another audience")
	}
	// go-oidc verifies any JWT signed by the issuer, so it also accepts the
	// access token when told to skip the client-id check.
	if _, err := p.Verifier(&oidc.Config{SkipClientIDCheck: true}).Verify(ctx, tr.AccessToken); err != nil {
		t.Errorf("verify access token signature: %v", err)
	}
}

// No secret and no token reaches the logs, whatever the request.
func TestLogsHoldNoCredentials(t *testing.T) {
	d := newDC(t, testdc.Options{})
	c, cred := d.CreateClient(api.CreateClientRequest{})
	tr := d.Token(cred)
	admin := d.AdminToken()
	d.Call(http.MethodGet, "/api/2/clients/"+c.ClientID, tr.AccessToken, nil)
	d.Call(http.MethodGet, "/api/2/clients/"+c.ClientID+"?access_token="+tr.AccessToken, "", nil)
	r := d.Call(http.MethodPost, "/api/2/clients/"+c.ClientID+"/secret", admin, nil)
	var sr api.SecretResponse
	r.JSON(t, &sr)
	d.PostForm("/bc/idp/token", nil, testkit.Basic(cred.ID, "wrong-"+cred.Secret))
	d.Call(http.MethodGet, "/api/2/clients", tr.AccessToken+"x", nil)
	logs := d.Logs.String()
	if !strings.Contains(logs, "/api/2/clients") {
		t.Fatalf("requests were not logged at all:\n%s", logs)
	}
	for name, s := range map[string]string{
		"secret": cred.Secret, "regenerated secret": sr.ClientSecret, "admin secret": d.Admin.Secret,
		"access token": tr.AccessToken, "id token": tr.IDToken, "admin token": admin,
		"token signature": tr.AccessToken[strings.LastIndex(tr.AccessToken, ".")+1:],
	} {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain the %s", name)
		}
	}
}
