package server

import (
	"errors"
	"net/http"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apierr"
	"github.com/gatehouse-dev/gatehouse/locator"
)

// datacenterItem is one item of GET /api/2/datacenters: the data
// center's id and url, then its issuer and whether it is this one.
type datacenterItem struct {
	gatehouse.Datacenter
	Issuer string `json:"issuer"`
	Self   bool   `json:"self"`
}

type datacenterList struct {
	Items []datacenterItem `json:"items"`
}

// handleDatacenters lists this data center and its peers. Any
// authenticated client may read it: the directory holds public URLs only,
// and an app deployed in several data centers needs it to find them.
func (s *Server) handleDatacenters(w http.ResponseWriter, r *http.Request) {
	dcs := s.svc.Datacenters()
	out := datacenterList{Items: make([]datacenterItem, 0, len(dcs))}
	for _, d := range dcs {
		out.Items = append(out.Items, datacenterItem{Datacenter: d.Datacenter, Issuer: d.Issuer, Self: d.Self})
	}
	apierr.WriteJSON(w, http.StatusOK, out)
}

// handleLocate answers the locator route for this data center's own
// clients, unauthenticated as the platform's locator is: an app that knows
// only its client id asks where to authenticate. It is rate-limited like
// the token endpoint, by the service (see Service.LocateClient).
func (s *Server) handleLocate(w http.ResponseWriter, r *http.Request) {
	login, ok := locator.LoginParam(w, r)
	if !ok {
		return
	}
	// A client created or deleted a moment ago must be found, or not, at
	// once: no answer of this route is cached.
	w.Header().Set("Cache-Control", "no-store")
	acc, err := s.svc.LocateClient(r.Context(), login, remoteIP(r))
	var limited *gatehouse.RateLimitedError
	switch {
	case err == nil:
		apierr.WriteJSON(w, http.StatusOK, locator.Account{ServerURL: acc.ServerURL, ID: 0, Login: acc.Login, DatacenterID: acc.DatacenterID})
	case errors.As(err, &limited):
		locator.WriteTooManyLookups(w, limited.RetryAfter)
	default:
		s.writeError(w, r, err)
	}
}
