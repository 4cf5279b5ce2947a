// Package apierr writes the account API's answers and reads its bearer
// credentials, for the data center's server and the resource-server guard
// alike, so that both refuse a request byte for byte the same way.
package apierr

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/token"
)

// Realm is sent in every WWW-Authenticate challenge.
const Realm = "gatehouse"

// Domain is the error domain of the account API, as the platform names it.
const Domain = "AccountServer"

// WriteJSON writes v as the JSON body of a response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internalError","message":"Internal error.","domain":"AccountServer"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// WriteAPIError writes the account API's error body. A 503 or 429 always
// carries Retry-After: retryAfter rounded up to whole seconds, at least 1.
func WriteAPIError(w http.ResponseWriter, status int, code, message string, retryAfter time.Duration) {
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests || retryAfter > 0 {
		w.Header().Set("Retry-After", RetryAfterSeconds(retryAfter))
	}
	body := api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: message, Domain: Domain}}
	if code == gatehouse.CodeValidationError {
		body.Error.Details = &api.ErrorInfo{Info: message}
	}
	WriteJSON(w, status, body)
}

// RetryAfterSeconds renders a wait as Retry-After delta-seconds, rounded
// up and at least 1.
func RetryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// Challenge sets an RFC 6750 Bearer challenge. Without an error code it is
// the bare challenge sent when no credentials came with the request.
func Challenge(w http.ResponseWriter, errCode, description string) {
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

// BearerToken extracts the token of an Authorization: Bearer header. It
// returns "" and no error when no Bearer credentials were sent at all, and
// a tokenMalformed error when something was sent that is not a usable
// bearer token. An oversized token is refused before anything parses it.
func BearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return "", nil
	}
	if len(values) > 1 {
		return "", gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeTokenMalformed, "More than one Authorization header was sent.")
	}
	scheme, rest, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", nil
	}
	tok := strings.TrimSpace(rest)
	if tok == "" {
		return "", nil
	}
	if len(tok) > token.MaxTokenLength || strings.ContainsAny(tok, " \t") {
		return "", gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeTokenMalformed, "The bearer token is malformed.")
	}
	return tok, nil
}

// WriteMissing answers a request that sent no bearer token.
func WriteMissing(w http.ResponseWriter) {
	Challenge(w, "", "")
	WriteAPIError(w, http.StatusUnauthorized, gatehouse.CodeBearerTokenMissing, "Authorization bearer token is missing.", 0)
}

// WriteRefusal answers a token refused for its own fault (401) or a
// caller refused for want of rights (403), with the matching challenge.
func WriteRefusal(w http.ResponseWriter, status int, e *gatehouse.Error) {
	switch status {
	case http.StatusUnauthorized:
		Challenge(w, "invalid_token", e.Message)
	case http.StatusForbidden:
		Challenge(w, "insufficient_scope", e.Message)
	}
	WriteAPIError(w, status, e.Code, e.Message, 0)
}

// Status maps a domain error kind to its HTTP status, for every transport.
func Status(err error) int {
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
	case errors.Is(err, gatehouse.ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, gatehouse.ErrUnavailable):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}
