package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apierr"
	"github.com/gatehouse-dev/gatehouse/internal/httpedge"
	"github.com/gatehouse-dev/gatehouse/metrics"
	"github.com/gatehouse-dev/gatehouse/service"
)

// remoteIP is the client's address: see httpedge.ClientIP.
func remoteIP(r *http.Request) string { return httpedge.ClientIP(r) }

type principalKey struct{}

func principalFrom(ctx context.Context) *service.Principal {
	p, _ := ctx.Value(principalKey{}).(*service.Principal)
	return p
}

// requireBearer authenticates every request with its bearer token and puts
// the principal in the request context.
func (s *Server) requireBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := apierr.BearerToken(r)
		if err == nil && tok == "" {
			s.metrics.BearerChecked(gatehouse.CodeBearerTokenMissing)
			apierr.WriteMissing(w)
			return
		}
		var p *service.Principal
		if err == nil {
			p, err = s.svc.Authenticate(r.Context(), tok)
		}
		if err != nil {
			s.metrics.BearerChecked(bearerOutcome(err))
			s.writeError(w, r, err)
			return
		}
		s.metrics.BearerChecked(metrics.OutcomeOK)
		p.RemoteIP = remoteIP(r)
		// Every authenticated answer is one caller's view of clients,
		// tenants, keys or the audit log (a new secret, even): no cache
		// between the caller and here may keep it.
		noStore(w)
		inner := r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		next.ServeHTTP(w, inner)
		// The API's own mux routed the copy, so its pattern
		// ("/api/2/clients/{id}") is on inner; hand it back out to
		// logRequests, which would otherwise see only "/api/2/".
		if inner.Pattern != "" {
			r.Pattern = inner.Pattern
		}
	})
}

// bearerOutcome is the error code writeError answers err with: a fixed
// set of constants, never text from the request.
func bearerOutcome(err error) string {
	var ge *gatehouse.Error
	switch {
	case errors.As(err, &ge):
		return ge.Code
	case apierr.Status(err) == http.StatusServiceUnavailable:
		return gatehouse.CodeServiceUnavailable
	default:
		return gatehouse.CodeInternalError
	}
}
