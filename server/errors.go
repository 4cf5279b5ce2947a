package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apierr"
)

// writeError renders any error of the service as the account API's error
// body. Only a *gatehouse.Error's message reaches the caller; anything else
// is logged and answered with a generic message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := apierr.Status(err)
	var ge *gatehouse.Error
	switch {
	case errors.As(err, &ge):
		apierr.WriteRefusal(w, status, ge)
	case status == http.StatusTooManyRequests:
		var limited *gatehouse.RateLimitedError
		wait := time.Second
		if errors.As(err, &limited) {
			wait = limited.RetryAfter
		}
		apierr.WriteAPIError(w, status, "tooManyRequests", "Too many failed attempts; retry later.", wait)
	case status == http.StatusBadRequest:
		apierr.WriteAPIError(w, status, gatehouse.CodeValidationError, "The request is not valid.", 0)
	case status == http.StatusNotFound:
		apierr.WriteAPIError(w, status, gatehouse.CodeNotFound, "Not found.", 0)
	case status == http.StatusConflict:
		apierr.WriteAPIError(w, status, gatehouse.CodeConflict, "The request conflicts with the current state; reload and retry.", 0)
	case status == http.StatusServiceUnavailable:
		s.log.Error("store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		apierr.WriteAPIError(w, status, gatehouse.CodeServiceUnavailable, "The service is temporarily unavailable; retry later.", 0)
	default:
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		apierr.WriteAPIError(w, http.StatusInternalServerError, gatehouse.CodeInternalError, "Internal error.", 0)
	}
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}
