package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
)

// Domain is the error domain of the account API, as the platform names it.
const Domain = "AccountServer"

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internalError","message":"Internal error.","domain":"AccountServer"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeAPIError(w http.ResponseWriter, status int, code, message string) {
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	body := api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: message, Domain: Domain}}
	if code == gatehouse.CodeValidationError {
		body.Error.Details = &api.ErrorInfo{Info: message}
	}
	writeJSON(w, status, body)
}

// statusOf maps a domain error kind to its HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, gatehouse.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, gatehouse.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, gatehouse.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, gatehouse.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, gatehouse.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, gatehouse.ErrUnavailable):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// writeError renders any error of the service as the account API's error
// body. Only a *gatehouse.Error's message reaches the caller; anything else
// is logged and answered with a generic message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	var ge *gatehouse.Error
	switch {
	case errors.As(err, &ge):
		switch status {
		case http.StatusUnauthorized:
			challenge(w, "invalid_token", ge.Message)
		case http.StatusForbidden:
			challenge(w, "insufficient_scope", ge.Message)
		}
		writeAPIError(w, status, ge.Code, ge.Message)
	case status == http.StatusServiceUnavailable:
		s.log.Error("store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		writeAPIError(w, status, gatehouse.CodeServiceUnavailable, "The service is temporarily unavailable; retry later.")
	default:
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		writeAPIError(w, http.StatusInternalServerError, gatehouse.CodeInternalError, "Internal error.")
	}
}

// challenge sets an RFC 6750 Bearer challenge. Without an error code it is
// the bare challenge sent when no credentials came with the request.
func challenge(w http.ResponseWriter, errCode, description string) {
	v := `Bearer realm="` + Realm + `"`
	if errCode != "" {
		v += `, error="` + errCode + `", error_description="` + quotedStringSafe(description) + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
}

// quotedStringSafe keeps a description within RFC 6750's allowed characters
// (%x20-21 / %x23-5B / %x5D-7E): no quotes, backslashes or control bytes.
func quotedStringSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '\''
		}
		return r
	}, s)
}

// OAuth errors of the IdP endpoints (RFC 6749 5.2).

func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	noStore(w)
	writeJSON(w, status, api.OAuthError{Error: code, ErrorDescription: description})
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}
