package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/api"
)

// maxPages bounds ListClients, so a server that keeps handing out new
// cursors cannot keep it looping forever.
const maxPages = 10000

// CreateClient creates an API client. The answer is the only one that
// carries the new client's secret.
func (c *Client) CreateClient(ctx context.Context, req api.CreateClientRequest) (*api.Client, error) {
	if req.Type == "" {
		req.Type = "api_client"
	}
	var out api.Client
	if err := c.call(ctx, http.MethodPost, "/api/2/clients", req, http.StatusCreated, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetClient returns one API client.
func (c *Client) GetClient(ctx context.Context, id string) (*api.Client, error) {
	p, err := clientPath(id)
	if err != nil {
		return nil, err
	}
	var out api.Client
	if err := c.call(ctx, http.MethodGet, p, nil, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListClients returns every API client the caller may see, following the
// paging cursor until the last page. The result has no Paging.
func (c *Client) ListClients(ctx context.Context) (*api.ClientList, error) {
	all := &api.ClientList{Items: []api.Client{}}
	seen := map[string]bool{}
	after := ""
	for range maxPages {
		p := "/api/2/clients"
		if after != "" {
			p += "?" + url.Values{"after": {after}}.Encode()
		}
		var page api.ClientList
		if err := c.call(ctx, http.MethodGet, p, nil, http.StatusOK, &page); err != nil {
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

// UpdateClient changes the fields set in req and returns the client.
func (c *Client) UpdateClient(ctx context.Context, id string, req api.UpdateClientRequest) (*api.Client, error) {
	p, err := clientPath(id)
	if err != nil {
		return nil, err
	}
	var out api.Client
	if err := c.call(ctx, http.MethodPut, p, req, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteClient deletes an API client; its tokens stop working.
func (c *Client) DeleteClient(ctx context.Context, id string) error {
	p, err := clientPath(id)
	if err != nil {
		return err
	}
	return c.call(ctx, http.MethodDelete, p, nil, http.StatusNoContent, nil)
}

// RegenerateSecret replaces a client's secret; the old secret and every
// token issued under it stop working. The answer is the only time the new
// secret is shown.
func (c *Client) RegenerateSecret(ctx context.Context, id string) (*api.SecretResponse, error) {
	p, err := clientPath(id)
	if err != nil {
		return nil, err
	}
	var out api.SecretResponse
	if err := c.call(ctx, http.MethodPost, p+"/secret", nil, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func clientPath(id string) (string, error) {
	if id == "" {
		return "", errors.New("client: empty client ID")
	}
	return "/api/2/clients/" + url.PathEscape(id), nil
}

// call sends one account API request through the bearer transport and
// decodes a JSON answer into out when the status is want.
func (c *Client) call(ctx context.Context, method, path string, in any, want int, out any) error {
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
	if _, err := c.Token(ctx); err != nil {
		return err
	}
	var req *http.Request
	var err error
	// A *bytes.Reader body gives the request a GetBody, which lets the
	// transport replay it after an invalid_token answer.
	if body != nil {
		req, err = http.NewRequestWithContext(ctx, method, c.base+path, body)
	} else {
		req, err = http.NewRequestWithContext(ctx, method, c.base+path, nil)
	}
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := c.api.Do(req)
	if err != nil {
		// The transport's own *Error (a failed token request) reads better
		// without the URL wrapping http.Client adds around it.
		if e, ok := errors.AsType[*Error](err); ok {
			return e
		}
		return c.redactErr(err)
	}
	defer drain(resp.Body)
	if resp.StatusCode != want {
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return &Error{StatusCode: resp.StatusCode, Message: fmt.Sprintf("unexpected answer to %s %s: want %d %s", method, path, want, http.StatusText(want))}
		}
		return c.responseError(resp)
	}
	if out == nil {
		return nil
	}
	if err := decodeBody(resp, out); err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	return nil
}
