package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/api"
)

// Accounts is the data center's account API: its API clients, signing
// keys and audit log. It is safe for concurrent use.
type Accounts struct {
	base string // the data center URL without a trailing slash
	hc   *http.Client
	// src, when set, is the source of hc's tokens: asking it first reports
	// a failed token request as itself.
	src TokenSource
	// creds, when set, are the strings that must never appear in errors.
	creds func() []string
}

// NewAccounts returns the account API of the data center at
// datacenterURL, called with hc, which must authenticate its requests: a
// Client's HTTPClient, an *http.Client over a Transport, or one from
// oauth2.NewClient. Its error messages are cleaned of anything that looks
// like a JWT; a Client's Accounts also remove its secret and its token.
func NewAccounts(datacenterURL string, hc *http.Client) (*Accounts, error) {
	u, err := url.Parse(datacenterURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("client: data center URL %q: %w", datacenterURL, err)
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("client: data center URL %q must be an absolute http or https URL", datacenterURL)
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, errors.New("client: data center URL must have no user info, query or fragment")
	case hc == nil:
		return nil, errors.New("client: no HTTP client for the account API")
	}
	return &Accounts{base: strings.TrimRight(u.String(), "/"), hc: hc}, nil
}

// maxPages bounds List, so a server that keeps handing out new
// cursors cannot keep it looping forever.
const maxPages = 10000

// Create creates an API client. The answer is the only one that
// carries the new client's secret.
func (a *Accounts) Create(ctx context.Context, req api.CreateClientRequest) (*api.Client, error) {
	if req.Type == "" {
		req.Type = "api_client"
	}
	var out api.Client
	if err := a.call(ctx, http.MethodPost, "/api/2/clients", req, http.StatusCreated, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Get returns one API client.
func (a *Accounts) Get(ctx context.Context, id string) (*api.Client, error) {
	p, err := clientPath(id)
	if err != nil {
		return nil, err
	}
	var out api.Client
	if err := a.call(ctx, http.MethodGet, p, nil, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// List returns every API client the caller may see, following the
// paging cursor until the last page. The result has no Paging.
func (a *Accounts) List(ctx context.Context) (*api.ClientList, error) {
	all := &api.ClientList{Items: []api.Client{}}
	seen := map[string]bool{}
	after := ""
	for range maxPages {
		p := "/api/2/clients"
		if after != "" {
			p += "?" + url.Values{"after": {after}}.Encode()
		}
		var page api.ClientList
		if err := a.call(ctx, http.MethodGet, p, nil, http.StatusOK, &page); err != nil {
			return nil, err
		}
		all.Items = append(all.Items, page.Items...)
		if page.Paging == nil || page.Paging.Cursors.After == "" {
			return all, nil
		}
		after = page.Paging.Cursors.After
		if seen[after] {
			return nil, fmt.Errorf("client: list clients: the server repeated the cursor %q", after)
		}
		seen[after] = true
	}
	return nil, fmt.Errorf("client: list clients: more than %d pages", maxPages)
}

// Update changes the fields set in req and returns the client.
func (a *Accounts) Update(ctx context.Context, id string, req api.UpdateClientRequest) (*api.Client, error) {
	p, err := clientPath(id)
	if err != nil {
		return nil, err
	}
	var out api.Client
	if err := a.call(ctx, http.MethodPut, p, req, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes an API client; its tokens stop working.
func (a *Accounts) Delete(ctx context.Context, id string) error {
	p, err := clientPath(id)
	if err != nil {
		return err
	}
	return a.call(ctx, http.MethodDelete, p, nil, http.StatusNoContent, nil)
}

// RegenerateSecret replaces a client's secret; the old secret and every
// token issued under it stop working. The answer is the only time the new
// secret is shown.
func (a *Accounts) RegenerateSecret(ctx context.Context, id string) (*api.SecretResponse, error) {
	p, err := clientPath(id)
	if err != nil {
		return nil, err
	}
	var out api.SecretResponse
	if err := a.call(ctx, http.MethodPost, p+"/secret", nil, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// secrets are what errors must not carry.
func (a *Accounts) secrets() []string {
	if a.creds == nil {
		return nil
	}
	return a.creds()
}

func clientPath(id string) (string, error) {
	if id == "" {
		return "", errors.New("client: empty client ID")
	}
	return "/api/2/clients/" + url.PathEscape(id), nil
}

// call sends one account API request through the bearer transport and
// decodes a JSON answer into out when the status is want.
func (a *Accounts) call(ctx context.Context, method, path string, in any, want int, out any) error {
	var body *bytes.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	// Authenticating first reports a failed token request as itself, rather
	// than wrapped inside the failure of this request; the transport then
	// finds the token in the cache.
	if a.src != nil {
		if _, err := a.src.Token(ctx); err != nil {
			return err
		}
	}
	var req *http.Request
	var err error
	// A *bytes.Reader body gives the request a GetBody, which lets the
	// transport replay it after an invalid_token answer.
	if body != nil {
		req, err = http.NewRequestWithContext(ctx, method, a.base+path, body)
	} else {
		req, err = http.NewRequestWithContext(ctx, method, a.base+path, nil)
	}
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := a.hc.Do(req)
	if err != nil {
		// The transport's own *Error (a failed token request) reads better
		// without the URL wrapping http.Client adds around it.
		if e, ok := errors.AsType[*Error](err); ok {
			return e
		}
		return redactErr(err, a.secrets())
	}
	defer drain(resp.Body)
	if resp.StatusCode != want {
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return &Error{StatusCode: resp.StatusCode, Message: fmt.Sprintf("unexpected answer to %s %s: want %d %s", method, path, want, http.StatusText(want))}
		}
		return responseError(resp, a.secrets())
	}
	if out == nil {
		return nil
	}
	if err := decodeBody(resp, out); err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	return nil
}

// ListKeys returns the data center's signing keys (operators only: admins
// of the root tenant).
func (a *Accounts) ListKeys(ctx context.Context) (*api.KeyList, error) {
	var out api.KeyList
	if err := a.call(ctx, http.MethodGet, "/api/2/keys", nil, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RotateKeys starts a key rotation and returns the new key, published now
// and signing once every verifier's JWKS cache holds it.
func (a *Accounts) RotateKeys(ctx context.Context) (*api.Key, error) {
	var out api.Key
	if err := a.call(ctx, http.MethodPost, "/api/2/keys/rotate", nil, http.StatusCreated, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AuditQuery selects audit entries.
type AuditQuery struct {
	Target string // only entries about this client id, kid or jti
	After  string // the cursor of the previous page
	Limit  int    // 0: the server's default
}

// ListAudit returns one page of the caller's tenant's audit log, newest
// first; Paging carries the cursor of the next page, if any.
func (a *Accounts) ListAudit(ctx context.Context, q AuditQuery) (*api.AuditList, error) {
	v := url.Values{}
	if q.Target != "" {
		v.Set("target", q.Target)
	}
	if q.After != "" {
		v.Set("after", q.After)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	p := "/api/2/audit"
	if len(v) > 0 {
		p += "?" + v.Encode()
	}
	var out api.AuditList
	if err := a.call(ctx, http.MethodGet, p, nil, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
