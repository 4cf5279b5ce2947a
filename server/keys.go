package server

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/apierr"
	"github.com/gatehouse-dev/gatehouse/service"
)

func toKeyJSON(k service.KeyInfo) api.Key {
	out := api.Key{KID: k.ID, Algorithm: k.Algorithm, State: k.State, CreatedAt: k.CreatedAt.UTC(), ActiveAt: k.ActiveAt.UTC()}
	if !k.RetireAt.IsZero() {
		t := k.RetireAt.UTC()
		out.RetireAt = &t
	}
	return out
}

func (s *Server) handleKeysList(w http.ResponseWriter, r *http.Request) {
	keys, err := s.svc.ListKeys(r.Context(), principalFrom(r.Context()))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list := api.KeyList{Items: make([]api.Key, 0, len(keys))}
	for _, k := range keys {
		list.Items = append(list.Items, toKeyJSON(k))
	}
	apierr.WriteJSON(w, http.StatusOK, list)
}

func (s *Server) handleKeysRotate(w http.ResponseWriter, r *http.Request) {
	k, err := s.svc.RotateKeys(r.Context(), principalFrom(r.Context()))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	apierr.WriteJSON(w, http.StatusCreated, toKeyJSON(k))
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.writeError(w, r, gatehouse.Errorf(gatehouse.ErrInvalid, gatehouse.CodeValidationError, "limit must be a whole number from 1 to 1000."))
			return
		}
		limit = n
	}
	es, next, err := s.svc.ListAudit(r.Context(), principalFrom(r.Context()), q.Get("target"), q.Get("after"), limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list := api.AuditList{Items: make([]api.AuditEntry, 0, len(es))}
	for _, e := range es {
		list.Items = append(list.Items, api.AuditEntry{Time: e.Time.UTC(), TenantID: e.TenantID, ActorID: e.ActorID,
			SourceIP: e.SourceIP, Action: e.Action, Target: e.Target, Outcome: e.Outcome})
	}
	if next != "" {
		list.Paging = &api.Paging{Cursors: api.Cursors{After: next}}
	}
	apierr.WriteJSON(w, http.StatusOK, list)
}
