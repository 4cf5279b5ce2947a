package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse"
)

// MaxDataBytes bounds a client's free-form data.
const MaxDataBytes = 16 << 10

// MaxClientNameRunes bounds a client's name (data.client_name), so that
// every list and page can show it whole. A client needs no name at all:
// the platform accepts one without.
const MaxClientNameRunes = 200

// ClientSpec is what a caller may choose when creating a client: a
// specification, which CreateClient checks and completes.
type ClientSpec struct {
	TenantID   string // "" means the caller's tenant
	AuthMethod gatehouse.AuthMethod
	Role       gatehouse.Role
	Data       json.RawMessage
}

// ClientUpdate holds the fields to change; nil means unchanged.
type ClientUpdate struct {
	Status *gatehouse.ClientStatus
	Data   json.RawMessage
}

func invalid(format string, args ...any) error {
	return gatehouse.Errorf(gatehouse.ErrInvalid, gatehouse.CodeValidationError, format, args...)
}

var (
	errForbidden = gatehouse.Errorf(gatehouse.ErrForbidden, gatehouse.CodeAuthorizationFailed,
		"The API client is not allowed to perform this operation.")
	errClientNotFound = gatehouse.Errorf(gatehouse.ErrNotFound, gatehouse.CodeNotFound, "API client not found.")
	errTenantNotFound = gatehouse.Errorf(gatehouse.ErrNotFound, gatehouse.CodeNotFound, "Tenant not found.")
)

// validData checks a client's free-form data: a JSON object, bounded.
func validData(d json.RawMessage) (json.RawMessage, error) {
	if len(d) == 0 {
		return json.RawMessage(`{}`), nil
	}
	// Parsed before the size is checked (the request body is bounded
	// already), so that an overlong name is refused as that, not as
	// oversized data.
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(d, &obj); err != nil || obj == nil {
		return nil, invalid("data must be a JSON object.")
	}
	if n, ok := obj["client_name"]; ok {
		var name string
		if json.Unmarshal(n, &name) != nil {
			return nil, invalid("data.client_name must be a string.")
		}
		if utf8.RuneCountInString(name) > MaxClientNameRunes {
			return nil, invalid("The name (data.client_name) is too long: at most %d characters.", MaxClientNameRunes)
		}
		if strings.ContainsFunc(name, unsafeInName) {
			return nil, invalid("The name (data.client_name) must not contain control or bidirectional-override characters.")
		}
	}
	if len(d) > MaxDataBytes {
		return nil, invalid("data must be at most %d bytes.", MaxDataBytes)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, d); err != nil {
		return nil, invalid("data must be a JSON object.")
	}
	return buf.Bytes(), nil
}

// CreateClient creates a client in a tenant the caller administers and
// returns it with its secret, which is not kept and cannot be shown again.
func (s *Service) CreateClient(ctx context.Context, p *Principal, in ClientSpec) (gatehouse.Client, string, error) {
	if in.TenantID == "" {
		in.TenantID = p.Client.TenantID
	}
	// An admin creates clients in its own tenant or any tenant below it
	// (canSeeTenant, in tenants.go).
	if ok, err := s.canSeeTenant(ctx, p, in.TenantID); err != nil {
		return gatehouse.Client{}, "", err
	} else if !ok {
		return gatehouse.Client{}, "", errTenantNotFound
	}
	if err := s.authorize(ctx, p, ActionClientCreate, target{tenantID: in.TenantID}); err != nil {
		return gatehouse.Client{}, "", err
	}
	if in.AuthMethod == "" {
		in.AuthMethod = gatehouse.AuthSecretBasic
	}
	if !in.AuthMethod.Valid() {
		return gatehouse.Client{}, "", invalid("token_endpoint_auth_method must be client_secret_basic or client_secret_post.")
	}
	if !in.Role.Valid() {
		return gatehouse.Client{}, "", invalid("role must be tenant_admin or absent.")
	}
	data, err := validData(in.Data)
	if err != nil {
		return gatehouse.Client{}, "", err
	}
	if _, err := s.store.GetTenant(ctx, in.TenantID); errors.Is(err, gatehouse.ErrNotFound) {
		return gatehouse.Client{}, "", errTenantNotFound
	} else if err != nil {
		return gatehouse.Client{}, "", unavailable(err)
	}
	now := s.now().UTC()
	id := uuid.NewString()
	secret := gatehouse.NewSecret()
	c := gatehouse.Client{
		ID:         id,
		TenantID:   in.TenantID,
		AuthMethod: in.AuthMethod,
		Role:       in.Role,
		Status:     gatehouse.StatusEnabled,
		Data:       data,
		SecretHash: s.secrets.Hash(id, secret),
		Generation: 1,
		CreatedAt:  now,
		CreatedBy:  p.Client.ID,
		UpdatedAt:  now,
	}
	if err := s.store.CreateClient(ctx, c, s.audited(p, ActionClientCreate, id)); err != nil {
		return gatehouse.Client{}, "", unavailable(err)
	}
	return c, secret, nil
}

// lookup finds a client the caller may know exists; a client of a tenant
// the caller cannot see is answered exactly like a missing one.
func (s *Service) lookup(ctx context.Context, p *Principal, id string) (gatehouse.Client, error) {
	c, err := s.lookupClient(ctx, id)
	if errors.Is(err, gatehouse.ErrNotFound) {
		return gatehouse.Client{}, errClientNotFound
	}
	if err != nil {
		return gatehouse.Client{}, err
	}
	if ok, err := s.canSeeTenant(ctx, p, c.TenantID); err != nil {
		return gatehouse.Client{}, err
	} else if !ok {
		return gatehouse.Client{}, errClientNotFound
	}
	return c, nil
}

// withAccess overlays the last access noted in memory but not yet written.
func (s *Service) withAccess(c gatehouse.Client) gatehouse.Client {
	if a, ok := s.access.Latest(c.ID); ok && a.At.After(c.LastAccessAt) {
		c.LastAccessAt, c.LastAccessFromIP = a.At, a.FromIP
	}
	return c
}

// GetClient returns a client: a client may read itself, a tenant admin any
// client of its tenant or of a tenant below it.
func (s *Service) GetClient(ctx context.Context, p *Principal, id string) (gatehouse.Client, error) {
	c, err := s.lookup(ctx, p, id)
	if err != nil {
		return gatehouse.Client{}, err
	}
	if err := s.authorize(ctx, p, ActionClientRead, target{id: c.ID, tenantID: c.TenantID, clientID: c.ID}); err != nil {
		return gatehouse.Client{}, err
	}
	return s.withAccess(c), nil
}

// ListClients returns a page of the caller's tenant's clients (tenant
// admins only) and the cursor of the next page, "" at the end.
func (s *Service) ListClients(ctx context.Context, p *Principal, after string, limit int) ([]gatehouse.Client, string, error) {
	return s.ListTenantClients(ctx, p, "", after, limit)
}

// ListTenantClients is ListClients for one tenant the caller administers:
// its own ("") or one below it. Only that tenant's clients are listed, not
// its subtree's.
func (s *Service) ListTenantClients(ctx context.Context, p *Principal, tenantID, after string, limit int) ([]gatehouse.Client, string, error) {
	page, err := s.FindClients(ctx, p, ClientQuery{TenantID: tenantID, After: after, Limit: limit})
	return page.Clients, page.Next, err
}

// ClientQuery selects a page of one tenant's clients.
type ClientQuery struct {
	TenantID string // "" means the caller's tenant
	// Text keeps the clients whose name or id contains it, ASCII letters
	// matched regardless of case; "" keeps all.
	Text  string
	After string // the cursor of the previous page
	Limit int    // 1 to 1000; 0 means 100
}

// ClientPage is a page of clients, by id.
type ClientPage struct {
	Clients []gatehouse.Client
	// Next is the cursor of the next page, "" at the end.
	Next string
}

// FindClients returns a page of the clients of a tenant the caller
// administers, its own or one below it (only that tenant's clients, not its
// subtree's), optionally those matching q.Text.
func (s *Service) FindClients(ctx context.Context, p *Principal, q ClientQuery) (ClientPage, error) {
	if q.TenantID == "" {
		q.TenantID = p.Client.TenantID
	}
	if ok, err := s.canSeeTenant(ctx, p, q.TenantID); err != nil {
		return ClientPage{}, err
	} else if !ok {
		return ClientPage{}, errTenantNotFound
	}
	if err := s.authorize(ctx, p, ActionClientList, target{id: q.TenantID, tenantID: q.TenantID}); err != nil {
		return ClientPage{}, err
	}
	if q.Limit < 0 || q.Limit > gatehouse.MaxPageSize {
		return ClientPage{}, invalid("limit must be between 1 and %d.", gatehouse.MaxPageSize)
	}
	if q.Limit == 0 {
		q.Limit = gatehouse.DefaultPageSize
	}
	if q.After != "" && !storableID(q.After) {
		return ClientPage{}, invalid("after must be a cursor from a previous page.")
	}
	if !utf8.ValidString(q.Text) || utf8.RuneCountInString(q.Text) > MaxClientNameRunes {
		return ClientPage{}, invalid("q must be text of at most %d characters.", MaxClientNameRunes)
	}
	page, err := s.listPage(ctx, q)
	if err != nil {
		return ClientPage{}, err
	}
	for i := range page.Clients {
		page.Clients[i] = s.withAccess(page.Clients[i])
	}
	return page, nil
}

// listPage reads one page of the tenant's clients.
func (s *Service) listPage(ctx context.Context, q ClientQuery) (ClientPage, error) {
	// One extra row tells whether a next page exists.
	cs, err := s.store.ListClients(ctx, gatehouse.ClientFilter{TenantID: q.TenantID, After: q.After, Limit: q.Limit + 1, Text: q.Text})
	if err != nil {
		return ClientPage{}, unavailable(err)
	}
	page := ClientPage{Clients: cs}
	if len(cs) > q.Limit {
		page.Clients = cs[:q.Limit]
		page.Next = cs[q.Limit-1].ID
	}
	return page, nil
}

// manage runs fn on a client the caller administers, atomically, and
// records action in the audit log in the same transaction.
func (s *Service) manage(ctx context.Context, p *Principal, id, action string, fn func(gatehouse.Client) (gatehouse.Client, error)) (gatehouse.Client, error) {
	cur, err := s.lookup(ctx, p, id)
	if err != nil {
		return gatehouse.Client{}, err
	}
	if err := s.authorize(ctx, p, action, target{id: id, tenantID: cur.TenantID, clientID: id}); err != nil {
		return gatehouse.Client{}, err
	}
	c, err := s.store.UpdateClient(ctx, id, func(c gatehouse.Client) (gatehouse.Client, error) {
		c, err := fn(c)
		if err == nil {
			c.UpdatedAt = s.now().UTC()
		}
		return c, err
	}, s.audited(p, action, id))
	// Dropped whatever the outcome: a failed commit may still have landed.
	s.clients.Invalidate(id)
	if errors.Is(err, gatehouse.ErrNotFound) {
		return gatehouse.Client{}, errClientNotFound
	}
	if err != nil {
		return gatehouse.Client{}, unavailable(err)
	}
	return s.withAccess(c), nil
}

// UpdateClient changes a client's status or data. Disabling revokes every
// token issued so far: re-enabling does not bring them back.
func (s *Service) UpdateClient(ctx context.Context, p *Principal, id string, u ClientUpdate) (gatehouse.Client, error) {
	if u.Status != nil && !u.Status.Valid() {
		return gatehouse.Client{}, invalid("status must be enabled or disabled.")
	}
	var data json.RawMessage
	if u.Data != nil {
		d, err := validData(u.Data)
		if err != nil {
			return gatehouse.Client{}, err
		}
		data = d
	}
	action := ActionClientUpdate
	if u.Status != nil && u.Data == nil {
		action = map[gatehouse.ClientStatus]string{gatehouse.StatusEnabled: ActionClientEnable, gatehouse.StatusDisabled: ActionClientDisable}[*u.Status]
	}
	return s.manage(ctx, p, id, action, func(c gatehouse.Client) (gatehouse.Client, error) {
		if u.Status != nil && *u.Status != c.Status {
			if *u.Status == gatehouse.StatusDisabled {
				c.Generation++
			}
			c.Status = *u.Status
		}
		if data != nil {
			c.Data = data
		}
		return c, nil
	})
}

// RegenerateSecret replaces a client's secret and revokes every token
// issued with the old one. The new secret is returned once.
func (s *Service) RegenerateSecret(ctx context.Context, p *Principal, id string) (string, error) {
	secret := gatehouse.NewSecret()
	_, err := s.manage(ctx, p, id, ActionClientRegenerate, func(c gatehouse.Client) (gatehouse.Client, error) {
		c.SecretHash = s.secrets.Hash(c.ID, secret)
		c.Generation++
		return c, nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// DeleteClient deletes a client for good; its tokens stop working at once.
func (s *Service) DeleteClient(ctx context.Context, p *Principal, id string) error {
	cur, err := s.lookup(ctx, p, id)
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, p, ActionClientDelete, target{id: id, tenantID: cur.TenantID, clientID: id}); err != nil {
		return err
	}
	err = s.store.DeleteClient(ctx, id, s.audited(p, ActionClientDelete, id))
	s.clients.Invalidate(id)
	if errors.Is(err, gatehouse.ErrNotFound) {
		return errClientNotFound
	} else if err != nil {
		return unavailable(err)
	}
	return nil
}
