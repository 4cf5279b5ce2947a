package guard

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apierr"
)

// Middleware returns next protected by the guard: a request without a
// valid, active Gatehouse access token is answered 401 with the account
// API's error body and an RFC 6750 challenge, or 503 with Retry-After when
// a data center could not be asked; any other reaches next with the claims
// in its context (see ClaimsFrom). The method value g.Middleware is a
// func(http.Handler) http.Handler, as router middleware chains expect.
func (g *Guard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := apierr.BearerToken(r)
		err = asRefusal(err)
		if err == nil && raw == "" {
			apierr.WriteMissing(w)
			return
		}
		var claims *Claims
		if err == nil {
			claims, err = g.Verify(r.Context(), raw)
		}
		if err != nil {
			g.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
	})
}

// refuse answers a failed check. Only a token's own fault is a 401; any
// other failure is a 503, so that an outage of a data center never looks
// like a bad token to the caller, nor lets one through.
func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := errors.AsType[*Error](err); ok {
		g.log.Debug("bearer token refused", "method", r.Method, "path", r.URL.Path, "code", e.Code)
		apierr.WriteRefusal(w, http.StatusUnauthorized, &gatehouse.Error{Kind: gatehouse.ErrUnauthenticated, Code: e.Code, Message: e.Message})
		return
	}
	wait := time.Second
	var ue *UnavailableError
	if errors.As(err, &ue) && ue.RetryAfter > wait {
		wait = ue.RetryAfter
	}
	// Debug, not Warn: the failing fetch is logged once per attempt, and
	// an outage would otherwise log one line per request.
	g.log.Debug("bearer token could not be checked", "method", r.Method, "path", r.URL.Path, "err", err)
	apierr.WriteAPIError(w, http.StatusServiceUnavailable, gatehouse.CodeServiceUnavailable, "The service is temporarily unavailable; retry later.", wait)
}
