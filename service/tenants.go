package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse"
)

// Tenant kinds the API creates, as on the platform. The root's kind, "root",
// is Bootstrap's alone.
const (
	TenantKindPartner  = "partner"
	TenantKindCustomer = "customer"
	TenantKindFolder   = "folder"
	TenantKindUnit     = "unit"
)

var tenantKinds = []string{TenantKindPartner, TenantKindCustomer, TenantKindFolder, TenantKindUnit}

// MaxTenantNameRunes bounds a tenant's name.
const MaxTenantNameRunes = 255

// Audit actions of the tenant API.
const (
	ActionTenantCreate  = "tenant.create"
	ActionTenantUpdate  = "tenant.update"
	ActionTenantDisable = "tenant.disable"
	ActionTenantEnable  = "tenant.enable"
)

// NewTenant is what a caller may choose when creating a tenant.
type NewTenant struct {
	ParentID string // "" means the caller's tenant
	Name     string
	Kind     string
}

// TenantUpdate holds the fields to change (nil means unchanged) and the
// version the caller read, which must still be the current one.
type TenantUpdate struct {
	Version *int64
	Name    *string
	Enabled *bool
}

var errOwnTenant = gatehouse.Errorf(gatehouse.ErrForbidden, gatehouse.CodeAuthorizationFailed,
	"A tenant admin cannot disable its own tenant: that would disable the admin itself. An admin of a parent tenant can.")

// tenantState is what the client checks need to know of a tenant, derived
// from its whole ancestry and cached with the clients (replica.ClientCache)
// so that neither the token endpoint nor the bearer check reads the store
// per request. A tenant never moves, so path never changes; enabled and
// generation change with any tenant on the path, which is why a tenant
// change drops every cached state rather than one.
type tenantState struct {
	// path is the tenant's id and its ancestors', nearest first, the root
	// last.
	path []string
	// enabled: the tenant and every ancestor is enabled. The zero state is
	// disabled, so a state that could not be established fails closed.
	enabled bool
	// generation is the sum of the generations on the path. Every one of
	// them only grows, so the sum grows whenever any tenant on the path is
	// disabled, and never returns to an earlier value.
	generation int64
}

// within reports whether the tenant is tenantID or lies below it.
func (st tenantState) within(tenantID string) bool { return slices.Contains(st.path, tenantID) }

// generationOf is the effective generation of a client of this tenant:
// what its tokens carry, and must still carry to be accepted.
func (st tenantState) generationOf(c gatehouse.Client) int64 { return c.Generation + st.generation }

// tenantState returns the state of a tenant, from the cache when it can be
// trusted (the rules of lookupClient). A miss reads the whole ancestry in
// one query and caches the state of every tenant on it, so the siblings and
// parents of a tenant just looked up are hits. Unknown tenants are not
// cached: one created on another replica must be usable here at once.
func (s *Service) tenantState(ctx context.Context, id string) (tenantState, error) {
	cc := s.clients
	if st, ok := cc.Tenant(id); ok {
		return st, nil
	}
	seq := cc.TenantSeq()
	sctx, cancel := context.WithTimeout(ctx, s.storeTimeout)
	defer cancel()
	chain, err := s.store.TenantAncestry(sctx, id)
	if errors.Is(err, gatehouse.ErrNotFound) {
		return tenantState{}, err
	}
	if err != nil {
		return tenantState{}, unavailable(err)
	}
	if len(chain) == 0 || chain[0].ID != id || chain[len(chain)-1].ParentID != "" {
		// A chain that does not end at a root (a cycle made by hand in the
		// database, say): nothing sound can be said of these tenants.
		s.log.Error("the tenant tree is broken: the ancestry of a tenant does not end at a root", "tenant", id, "length", len(chain))
		return tenantState{}, fmt.Errorf("%w: tenant %q: ancestry does not end at a root", gatehouse.ErrUnavailable, id)
	}
	path := make([]string, len(chain))
	for i, t := range chain {
		path[i] = t.ID
	}
	// From the root down: each tenant's state is its parent's and its own.
	states := make([]tenantState, len(chain))
	for i := len(chain) - 1; i >= 0; i-- {
		st := tenantState{path: path[i:], enabled: chain[i].Enabled, generation: chain[i].Generation}
		if i < len(chain)-1 {
			st.enabled = st.enabled && states[i+1].enabled
			st.generation += states[i+1].generation
		}
		states[i] = st
	}
	cc.AddTenants(path, states, seq)
	return states[0], nil
}

// clientTenant returns the state of a client's tenant. A client whose tenant
// the store does not know (which its foreign key rules out) gets the zero
// state, disabled: fail closed.
func (s *Service) clientTenant(ctx context.Context, c gatehouse.Client) (tenantState, error) {
	st, err := s.tenantState(ctx, c.TenantID)
	if errors.Is(err, gatehouse.ErrNotFound) {
		s.log.Error("an API client's tenant does not exist; treating the client as disabled", "client", c.ID, "tenant", c.TenantID)
		return tenantState{}, nil
	}
	return st, err
}

// canSeeTenant reports whether the caller may know that a tenant exists.
// Every client sees its own tenant; a tenant admin also sees the whole
// subtree below it, and nothing above or beside it. A tenant the caller
// cannot see is answered exactly like a missing one.
func (s *Service) canSeeTenant(ctx context.Context, p *Principal, tenantID string) (bool, error) {
	if tenantID == p.Client.TenantID {
		return true, nil
	}
	if !p.IsTenantAdmin() || tenantID == "" {
		return false, nil
	}
	st, err := s.tenantState(ctx, tenantID)
	if errors.Is(err, gatehouse.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return st.within(p.Client.TenantID), nil
}

// visibleTenant reads a tenant the caller administers: its own or one
// below it. Others are answered as missing; a caller that is no tenant
// admin is refused.
func (s *Service) visibleTenant(ctx context.Context, p *Principal, id string) (gatehouse.Tenant, error) {
	chain, err := s.store.TenantAncestry(ctx, id)
	if errors.Is(err, gatehouse.ErrNotFound) {
		return gatehouse.Tenant{}, errTenantNotFound
	}
	if err != nil {
		return gatehouse.Tenant{}, unavailable(err)
	}
	if !slices.ContainsFunc(chain, func(t gatehouse.Tenant) bool { return t.ID == p.Client.TenantID }) {
		return gatehouse.Tenant{}, errTenantNotFound
	}
	if err := s.authorize(ctx, p, ActionTenantRead, target{id: id, tenantID: id}); err != nil {
		return gatehouse.Tenant{}, err
	}
	return chain[0], nil
}

// validTenantName checks a tenant's name: some visible text, bounded, with
// no control characters (which have no place in a name and would garble
// logs and consoles).
func validTenantName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return invalid("name is required.")
	case !utf8.ValidString(name):
		return invalid("name must be valid UTF-8.")
	case utf8.RuneCountInString(name) > MaxTenantNameRunes:
		return invalid("name must be at most %d characters.", MaxTenantNameRunes)
	case strings.ContainsFunc(name, unsafeInName):
		return invalid("name must not contain control or bidirectional-override characters.")
	}
	return nil
}

// unsafeInName reports characters no display name may hold: control
// characters, and the bidirectional embeddings, overrides and isolates that
// make a name display as something else (a console showing "evil" as
// "live").
func unsafeInName(r rune) bool {
	return unicode.IsControl(r) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

func validTenantKind(kind string) error {
	if !slices.Contains(tenantKinds, kind) {
		return invalid("kind must be one of %s.", strings.Join(tenantKinds, ", "))
	}
	return nil
}

// CreateTenant creates a tenant below one the caller administers (its own
// by default), enabled, at version 1.
func (s *Service) CreateTenant(ctx context.Context, p *Principal, in NewTenant) (gatehouse.Tenant, error) {
	if in.ParentID == "" {
		in.ParentID = p.Client.TenantID
	}
	ok, err := s.canSeeTenant(ctx, p, in.ParentID)
	if err != nil {
		return gatehouse.Tenant{}, err
	}
	if !ok {
		return gatehouse.Tenant{}, errTenantNotFound
	}
	id := uuid.NewString()
	if err := s.authorize(ctx, p, ActionTenantCreate, target{id: id, tenantID: in.ParentID}); err != nil {
		return gatehouse.Tenant{}, err
	}
	// A tenant deeper than the store's ancestry walk could never be read
	// back whole: it would look like a broken tree to every check.
	parent, err := s.tenantState(ctx, in.ParentID)
	if err != nil {
		return gatehouse.Tenant{}, err
	}
	if len(parent.path) >= gatehouse.MaxTenantDepth {
		return gatehouse.Tenant{}, invalid("The tenant tree is at most %d levels deep: the parent is at the deepest level.", gatehouse.MaxTenantDepth)
	}
	if err := validTenantName(in.Name); err != nil {
		return gatehouse.Tenant{}, err
	}
	if err := validTenantKind(in.Kind); err != nil {
		return gatehouse.Tenant{}, err
	}
	// Microseconds, what the stores keep, so the answer to the create
	// equals every later read.
	now := s.now().UTC().Truncate(time.Microsecond)
	t := gatehouse.Tenant{
		ID: id, ParentID: in.ParentID, Name: in.Name, Kind: in.Kind,
		Enabled: true, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.CreateTenant(ctx, t, s.audited(p, ActionTenantCreate, id)); err != nil {
		return gatehouse.Tenant{}, unavailable(err)
	}
	return t, nil
}

// GetTenant returns a tenant the caller administers.
func (s *Service) GetTenant(ctx context.Context, p *Principal, id string) (gatehouse.Tenant, error) {
	return s.visibleTenant(ctx, p, id)
}

// ListTenantChildren returns the direct children of a tenant the caller
// administers, in id order.
func (s *Service) ListTenantChildren(ctx context.Context, p *Principal, id string) ([]gatehouse.Tenant, error) {
	if _, err := s.visibleTenant(ctx, p, id); err != nil {
		return nil, err
	}
	ts, err := s.store.ListTenantChildren(ctx, id)
	if err != nil {
		return nil, unavailable(err)
	}
	return ts, nil
}

// UpdateTenant renames, disables or enables a tenant the caller
// administers, if u.Version is still its version; every update increases
// the version by one.
//
// Disabling a tenant disables every client of it and of its subtree at
// once, without touching a client row, and increases the tenant's
// generation, which revokes every token those clients hold (see
// Authenticate). Enabling it again restores exactly the clients that were
// enabled before, each with new tokens only.
//
// A tenant admin may not disable its own tenant: it would lock itself out,
// and only an admin above could undo it. So the root tenant, which has no
// admin above, can never be disabled through the API.
func (s *Service) UpdateTenant(ctx context.Context, p *Principal, id string, u TenantUpdate) (gatehouse.Tenant, error) {
	if u.Version == nil {
		return gatehouse.Tenant{}, invalid("version is required: send the version of the tenant you read.")
	}
	if u.Name == nil && u.Enabled == nil {
		return gatehouse.Tenant{}, invalid("Name a field to change: name or enabled.")
	}
	if u.Name != nil {
		if err := validTenantName(*u.Name); err != nil {
			return gatehouse.Tenant{}, err
		}
	}
	ok, err := s.canSeeTenant(ctx, p, id)
	if err != nil {
		return gatehouse.Tenant{}, err
	}
	if !ok {
		return gatehouse.Tenant{}, errTenantNotFound
	}
	// The action is what was asked for, as for clients: a request that
	// names enabled is an enable or a disable, renaming or not.
	action := ActionTenantUpdate
	if u.Enabled != nil {
		action = ActionTenantEnable
		if !*u.Enabled {
			action = ActionTenantDisable
		}
	}
	if err := s.authorize(ctx, p, action, target{id: id, tenantID: id}); err != nil {
		return gatehouse.Tenant{}, err
	}
	t, err := s.store.UpdateTenant(ctx, id, func(t gatehouse.Tenant) (gatehouse.Tenant, error) {
		if t.Version != *u.Version {
			return t, gatehouse.Errorf(gatehouse.ErrConflict, gatehouse.CodeConflict,
				"The tenant has changed since version %d was read; it is at version %d now. Read it again and retry.", *u.Version, t.Version)
		}
		if u.Name != nil {
			t.Name = *u.Name
		}
		if u.Enabled != nil && *u.Enabled != t.Enabled {
			if !*u.Enabled {
				t.Generation++
			}
			t.Enabled = *u.Enabled
		}
		t.Version++
		t.UpdatedAt = s.now().UTC()
		return t, nil
	}, s.audited(p, action, id))
	// Dropped whatever the outcome, as for clients: a failed commit may
	// still have landed. Every state below the tenant depends on it.
	s.clients.PurgeTenants()
	if errors.Is(err, gatehouse.ErrNotFound) {
		return gatehouse.Tenant{}, errTenantNotFound
	}
	if err != nil {
		return gatehouse.Tenant{}, unavailable(err)
	}
	return t, nil
}
