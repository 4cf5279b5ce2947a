package service

import (
	"context"
	"strconv"

	"github.com/gatehouse-dev/gatehouse"
)

// Audit actions.
const (
	ActionClientCreate     = "client.create"
	ActionClientUpdate     = "client.update"
	ActionClientDisable    = "client.disable"
	ActionClientEnable     = "client.enable"
	ActionClientRegenerate = "client.regenerate_secret"
	ActionClientDelete     = "client.delete"
	ActionKeyRotate        = "key.rotate"
	ActionTokenRevoke      = "token.revoke"
)

// SystemActor is the actor of what the server does by itself, such as
// scheduled key rotation.
const SystemActor = "gatehouse"

// auditEntry describes an action of p on target in p's tenant.
func (s *Service) auditEntry(p *Principal, action, target, outcome string) gatehouse.AuditEntry {
	return gatehouse.AuditEntry{
		Time:     s.now().UTC(),
		TenantID: p.Client.TenantID,
		ActorID:  p.Client.ID,
		SourceIP: p.RemoteIP,
		Action:   action,
		Target:   target,
		Outcome:  outcome,
	}
}

// audited is the entry of a change of p's, which the store records in the
// change's own transaction.
func (s *Service) audited(p *Principal, action, target string) gatehouse.AuditEntry {
	return s.auditEntry(p, action, target, gatehouse.OutcomeSuccess)
}

// denied records a refused management action. Failing to record it does
// not change the answer, which is a refusal anyway; the write is bounded
// like every store call of a request, and survives the caller hanging up.
func (s *Service) denied(ctx context.Context, p *Principal, action, target string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.storeTimeout)
	defer cancel()
	if err := s.store.AppendAudit(ctx, s.auditEntry(p, action, target, gatehouse.OutcomeDenied)); err != nil {
		s.log.Warn("recording a refused action failed", "action", action, "err", err)
	}
}

// ListAudit returns a page of the caller's tenant's audit log, newest
// first, optionally about one target (about), and the cursor of the next page.
func (s *Service) ListAudit(ctx context.Context, p *Principal, about, after string, limit int) ([]gatehouse.AuditEntry, string, error) {
	if err := s.authorize(ctx, p, ActionAuditRead, target{tenantID: p.Client.TenantID}); err != nil {
		return nil, "", err
	}
	if limit < 0 || limit > gatehouse.MaxPageSize {
		return nil, "", invalid("limit must be between 1 and %d.", gatehouse.MaxPageSize)
	}
	if limit == 0 {
		limit = gatehouse.DefaultPageSize
	}
	var before int64
	if after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil || n < 1 {
			return nil, "", invalid("after must be a cursor from a previous page.")
		}
		before = n
	}
	es, err := s.store.ListAudit(ctx, gatehouse.AuditFilter{TenantID: p.Client.TenantID, Target: about, Before: before, Limit: limit + 1})
	if err != nil {
		return nil, "", unavailable(err)
	}
	next := ""
	if len(es) > limit {
		es = es[:limit]
		next = strconv.FormatInt(es[limit-1].Seq, 10)
	}
	return es, next, nil
}
