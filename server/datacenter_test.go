package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/api"
)

// Two servers with different URLs and stores are two data centers: each
// rejects the other's tokens, even for clients with the same credentials.
func TestTwoDataCenters(t *testing.T) {
	eu := newDC(t, dcOptions{})
	us := newDC(t, dcOptions{admin: eu.admin})
	euTok, usTok := eu.adminToken(), us.adminToken()
	for _, tc := range []struct {
		name  string
		at    *dc
		tok   string
		other *dc
	}{{"eu token at us", us, euTok, eu}, {"us token at eu", eu, usTok, us}} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.at.call(http.MethodGet, "/api/2/clients/"+eu.admin.id, tc.tok, nil)
			e := r.apiError(t)
			if r.Status != 401 || e.Code != "tokenIssuerMismatch" || !strings.Contains(e.Message, tc.at.URL+"/bc") {
				t.Errorf("%d %s", r.Status, r.body)
			}
		})
	}
	if r := eu.call(http.MethodGet, "/api/2/clients/"+eu.admin.id, euTok, nil); r.Status != 200 {
		t.Errorf("own token: %d %s", r.Status, r.body)
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
	d := newDC(t, dcOptions{})
	_, cred := d.createClient(api.CreateClientRequest{})
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, d.URL+"/bc")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	tr := d.token(cred)
	idt, err := p.Verifier(&oidc.Config{ClientID: cred.id}).Verify(ctx, tr.IDToken)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if idt.Subject != cred.id || idt.Issuer != d.URL+"/bc" {
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
	d := newDC(t, dcOptions{})
	c, cred := d.createClient(api.CreateClientRequest{})
	tr := d.token(cred)
	admin := d.adminToken()
	d.call(http.MethodGet, "/api/2/clients/"+c.ClientID, tr.AccessToken, nil)
	d.call(http.MethodGet, "/api/2/clients/"+c.ClientID+"?access_token="+tr.AccessToken, "", nil)
	r := d.call(http.MethodPost, "/api/2/clients/"+c.ClientID+"/secret", admin, nil)
	var sr api.SecretResponse
	r.json(t, &sr)
	d.tokenRequest("/bc/idp/token", nil, basic(cred.id, "wrong-"+cred.secret))
	d.call(http.MethodGet, "/api/2/clients", tr.AccessToken+"x", nil)
	logs := d.Logs.String()
	if !strings.Contains(logs, "/api/2/clients") {
		t.Fatalf("requests were not logged at all:\n%s", logs)
	}
	for name, s := range map[string]string{
		"secret": cred.secret, "regenerated secret": sr.ClientSecret, "admin secret": d.admin.secret,
		"access token": tr.AccessToken, "id token": tr.IDToken, "admin token": admin,
		"token signature": tr.AccessToken[strings.LastIndex(tr.AccessToken, ".")+1:],
	} {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain the %s", name)
		}
	}
}
