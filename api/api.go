// Package api holds the JSON shapes of the platform's wire contract, shared
// by the server that writes them and the SDK that reads them, so the two
// cannot drift apart.
package api

import (
	"encoding/json"
	"time"
)

// TokenResponse is the token endpoint's success body. ExpiresIn and
// ExpiresOn are JSON integers: golang.org/x/oauth2 and go-authkit read
// expires_in, the platform's own guide reads expires_on.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	ExpiresOn   int64  `json:"expires_on"`
	IDToken     string `json:"id_token,omitempty"`
}

// OAuthError is the RFC 6749 5.2 error body of the IdP endpoints.
type OAuthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// ErrorBody is the account API's error envelope.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Domain  string          `json:"domain"`
	Details *ErrorInfo      `json:"details,omitempty"`
	Context json.RawMessage `json:"context,omitempty"`
}

// ErrorInfo carries a validation failure's detail.
type ErrorInfo struct {
	Info string `json:"info"`
}

// Client is an API client as /api/2/clients shows it. ClientSecret is set
// only in the answer to a create, the one time the secret is shown.
// LastAccessAt and LastAccessFromIP are always present: null until first use.
type Client struct {
	ClientID                string          `json:"client_id"`
	ClientSecret            string          `json:"client_secret,omitempty"`
	ClientSecretExpiresAt   *int64          `json:"client_secret_expires_at,omitempty"`
	Type                    string          `json:"type"`
	TenantID                string          `json:"tenant_id"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	Role                    string          `json:"role,omitempty"`
	Data                    json.RawMessage `json:"data"`
	CreatedAt               time.Time       `json:"created_at"`
	CreatedBy               string          `json:"created_by"`
	Status                  string          `json:"status"`
	LastAccessAt            *time.Time      `json:"last_access_at"`
	LastAccessFromIP        *string         `json:"last_access_from_ip"`
}

// ClientList is the answer to GET /api/2/clients.
type ClientList struct {
	Items  []Client `json:"items"`
	Paging *Paging  `json:"paging,omitempty"`
}

// Paging carries the cursor of the next page, if there is one.
type Paging struct {
	Cursors Cursors `json:"cursors"`
}

// Cursors of a page.
type Cursors struct {
	After string `json:"after,omitempty"`
}

// CreateClientRequest is the body of POST /api/2/clients. Type must be
// "api_client"; TenantID defaults to the caller's tenant; the auth method
// defaults to client_secret_basic.
type CreateClientRequest struct {
	Type                    string          `json:"type"`
	TenantID                string          `json:"tenant_id,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method,omitempty"`
	Role                    string          `json:"role,omitempty"`
	Data                    json.RawMessage `json:"data,omitempty"`
}

// UpdateClientRequest is the body of PUT /api/2/clients/{id}: the fields to
// change.
type UpdateClientRequest struct {
	Status *string         `json:"status,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// SecretResponse is the answer to POST /api/2/clients/{id}/secret.
type SecretResponse struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// Key is a signing key as GET /api/2/keys shows it: never a private part.
// State is next (published, not yet signing), active, previous (published,
// no longer signing) or retired.
type Key struct {
	KID       string     `json:"kid"`
	Algorithm string     `json:"alg"`
	State     string     `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	ActiveAt  time.Time  `json:"active_at"`
	RetireAt  *time.Time `json:"retire_at"`
}

// KeyList is the answer to GET /api/2/keys.
type KeyList struct {
	Items []Key `json:"items"`
}

// AuditEntry is one entry of GET /api/2/audit.
type AuditEntry struct {
	Time     time.Time `json:"time"`
	TenantID string    `json:"tenant_id"`
	ActorID  string    `json:"actor_id"`
	SourceIP string    `json:"source_ip"`
	Action   string    `json:"action"`
	Target   string    `json:"target"`
	Outcome  string    `json:"outcome"`
}

// AuditList is the answer to GET /api/2/audit, newest first.
type AuditList struct {
	Items  []AuditEntry `json:"items"`
	Paging *Paging      `json:"paging,omitempty"`
}

// Tenant is a tenant as /api/2/tenants shows it. Enabled is the tenant's
// own switch: its clients work only while it and every tenant above it are
// enabled. Version is the optimistic lock an update must name.
type Tenant struct {
	ID        string    `json:"id"`
	ParentID  string    `json:"parent_id,omitempty"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Enabled   bool      `json:"enabled"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// TenantList is the answer to GET /api/2/tenants/{id}/children.
type TenantList struct {
	Items []Tenant `json:"items"`
}

// CreateTenantRequest is the body of POST /api/2/tenants. ParentID defaults
// to the caller's tenant; Kind is partner, customer, folder or unit.
type CreateTenantRequest struct {
	ParentID string `json:"parent_id,omitempty"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
}

// UpdateTenantRequest is the body of PUT /api/2/tenants/{id}: the fields to
// change and the version they were read at (required).
type UpdateTenantRequest struct {
	Version *int64  `json:"version"`
	Name    *string `json:"name,omitempty"`
	Enabled *bool   `json:"enabled,omitempty"`
}
