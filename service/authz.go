package service

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse"
)

// Actions that read management data. Their refusals are audited like the
// refusals of changes (the actions of audit.go and tenants.go), under these
// names; their successes are not, since nothing changed.
const (
	ActionClientRead = "client.read"
	ActionClientList = "client.list"
	ActionTenantRead = "tenant.read"
	ActionAuditRead  = "audit.read"
	ActionKeyList    = "key.list"
	// ActionConsoleSignIn is signing in to the console, and staying signed
	// in: the console manages a tenant, so it takes its admin.
	ActionConsoleSignIn = "console.signin"
)

// target is what a management action acts on, as far as the rules need to
// know: the tenant it happens in and, for a client, which client. The
// target's existence and visibility are settled before authorize is asked
// (lookup, canSeeTenant, visibleTenant): what the caller may not know
// exists is answered as missing, never as refused, so it is not a refusal
// either and is not audited.
type target struct {
	// id is what the audit entry names: a client id, a tenant id, a key id
	// or nothing (a creation refused before the new id mattered).
	id string
	// tenantID is the tenant the action happens in: the client's tenant,
	// the tenant itself, the parent of a tenant being created.
	tenantID string
	// clientID is the client acted on, for the rules that let a client
	// act on itself.
	clientID string
}

// rule decides whether p may perform an action on t. It returns nil or the
// refusal the caller is answered with.
type rule func(ctx context.Context, s *Service, p *Principal, t target) error

// rules is every management action and who may perform it. An action
// missing here is refused: adding a use case means deciding its rule.
var rules = map[string]rule{
	ActionClientCreate:     tenantAdmin,
	ActionClientUpdate:     tenantAdmin,
	ActionClientEnable:     tenantAdmin,
	ActionClientDisable:    tenantAdmin,
	ActionClientRegenerate: tenantAdmin,
	ActionClientDelete:     tenantAdmin,
	ActionClientList:       tenantAdmin,
	ActionClientRead:       selfOrTenantAdmin,

	ActionTenantCreate:  tenantAdmin,
	ActionTenantUpdate:  tenantAdmin,
	ActionTenantEnable:  tenantAdmin,
	ActionTenantDisable: tenantAdminNotOfItsOwnTenant,
	ActionTenantRead:    tenantAdmin,

	ActionAuditRead: tenantAdmin,

	ActionKeyList:   operator,
	ActionKeyRotate: operator,

	ActionConsoleSignIn: tenantAdmin,
}

// tenantAdmin: the caller administers its tenant, and with it (given
// visibility, settled before) every tenant below it.
func tenantAdmin(_ context.Context, _ *Service, p *Principal, _ target) error {
	if !p.IsTenantAdmin() {
		return errForbidden
	}
	return nil
}

// selfOrTenantAdmin: a client may read itself; reading another takes a
// tenant admin.
func selfOrTenantAdmin(ctx context.Context, s *Service, p *Principal, t target) error {
	if t.clientID != "" && t.clientID == p.Client.ID {
		return nil
	}
	return tenantAdmin(ctx, s, p, t)
}

// tenantAdminNotOfItsOwnTenant: a tenant admin may not disable its own
// tenant, which would lock itself out with only an admin above to undo it;
// so the root tenant, which has none, can never be disabled.
func tenantAdminNotOfItsOwnTenant(ctx context.Context, s *Service, p *Principal, t target) error {
	if err := tenantAdmin(ctx, s, p, t); err != nil {
		return err
	}
	if t.tenantID == p.Client.TenantID {
		return errOwnTenant
	}
	return nil
}

// operator: an admin of the root tenant, who manages the data center
// itself (its keys).
func operator(ctx context.Context, s *Service, p *Principal, t target) error {
	if err := tenantAdmin(ctx, s, p, t); err != nil {
		return err
	}
	own, err := s.store.GetTenant(ctx, p.Client.TenantID)
	if err != nil {
		return unavailable(err)
	}
	if own.ParentID != "" {
		return errForbidden
	}
	return nil
}

// authorize decides whether p may perform action on t, by the rules table,
// and records every refusal in the audit log, one denied entry per refused
// action. Every management use case asks it, whatever the transport, so the
// API and the console enforce the same rules.
func (s *Service) authorize(ctx context.Context, p *Principal, action string, t target) error {
	r, ok := rules[action]
	if !ok {
		// A programming error, caught by the tests; refused rather than
		// allowed, so a forgotten rule fails closed.
		s.log.Error("no authorization rule for an action; refusing it", "action", action)
		s.denied(ctx, p, action, t.id)
		return errForbidden
	}
	err := r(ctx, s, p, t)
	if err == nil {
		return nil
	}
	if errors.Is(err, gatehouse.ErrUnavailable) {
		return err // the rule could not be checked: not a refusal
	}
	s.denied(ctx, p, action, t.id)
	return err
}
