package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/api"
)

// ListKeys returns the data center's signing keys (operators only: admins
// of the root tenant).
func (c *Client) ListKeys(ctx context.Context) (*api.KeyList, error) {
	var out api.KeyList
	if err := c.call(ctx, http.MethodGet, "/api/2/keys", nil, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RotateKeys starts a key rotation and returns the new key, published now
// and signing once every verifier's JWKS cache holds it.
func (c *Client) RotateKeys(ctx context.Context) (*api.Key, error) {
	var out api.Key
	if err := c.call(ctx, http.MethodPost, "/api/2/keys/rotate", nil, http.StatusCreated, &out); err != nil {
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
func (c *Client) ListAudit(ctx context.Context, q AuditQuery) (*api.AuditList, error) {
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
	if err := c.call(ctx, http.MethodGet, p, nil, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
