package server

import (
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/apierr"
	"github.com/gatehouse-dev/gatehouse/service"
)

func tenantToAPI(t gatehouse.Tenant) api.Tenant {
	return api.Tenant{
		ID:        t.ID,
		ParentID:  t.ParentID,
		Name:      t.Name,
		Kind:      t.Kind,
		Enabled:   t.Enabled,
		Version:   t.Version,
		CreatedAt: t.CreatedAt.UTC(),
		UpdatedAt: t.UpdatedAt.UTC(),
	}
}

// handleTenants serves POST /api/2/tenants.
func (s *Server) handleTenants(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	var req api.CreateTenantRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeDecodeError(w, r, err)
		return
	}
	t, err := s.svc.CreateTenant(r.Context(), p, service.NewTenant{ParentID: req.ParentID, Name: req.Name, Kind: req.Kind})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/2/tenants/"+url.PathEscape(t.ID))
	apierr.WriteJSON(w, http.StatusCreated, tenantToAPI(t))
}

// handleTenant serves GET and PUT /api/2/tenants/{id}.
func (s *Server) handleTenant(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	id := r.PathValue("id")
	switch r.Method {
	case http.MethodGet:
		t, err := s.svc.GetTenant(r.Context(), p, id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		apierr.WriteJSON(w, http.StatusOK, tenantToAPI(t))
	case http.MethodPut:
		var req api.UpdateTenantRequest
		if err := decodeJSON(w, r, &req); err != nil {
			s.writeDecodeError(w, r, err)
			return
		}
		t, err := s.svc.UpdateTenant(r.Context(), p, id, service.TenantUpdate{Version: req.Version, Name: req.Name, Enabled: req.Enabled})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		apierr.WriteJSON(w, http.StatusOK, tenantToAPI(t))
	}
}

// handleTenantChildren serves GET /api/2/tenants/{id}/children.
func (s *Server) handleTenantChildren(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	ts, err := s.svc.ListTenantChildren(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list := api.TenantList{Items: make([]api.Tenant, 0, len(ts))}
	for _, t := range ts {
		list.Items = append(list.Items, tenantToAPI(t))
	}
	apierr.WriteJSON(w, http.StatusOK, list)
}
