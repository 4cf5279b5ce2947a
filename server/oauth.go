package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/apierr"
	"github.com/gatehouse-dev/gatehouse/service"
)

// oauthError is an RFC 6749 5.2 error of the IdP endpoints: its error
// code, the status it is answered with, and a description for a person.
// The codes are values, not strings compared at each use: handlers return
// one of the values below, refined by with or withStatus, test for them
// with errors.Is, and only writeOAuth turns them into HTTP.
type oauthError struct {
	code        string
	status      int
	description string
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

// Is matches any oauthError of the same code, whatever its description or
// status: errors.Is(err, errInvalidClient) holds for every client
// authentication failure.
func (e *oauthError) Is(target error) bool {
	t, ok := target.(*oauthError)
	return ok && t.code == e.code
}

// with is a copy of e that describes this failure.
func (e *oauthError) with(description string) *oauthError {
	c := *e
	c.description = description
	return &c
}

// withStatus is a copy of e answered with another status than its code's
// usual one (413 for an oversized body, 429 for a rate-limited caller).
func (e *oauthError) withStatus(status int) *oauthError {
	c := *e
	c.status = status
	return &c
}

// The RFC 6749 errors the IdP endpoints answer, each with its usual status.
var (
	errInvalidRequest         = &oauthError{code: "invalid_request", status: http.StatusBadRequest}
	errInvalidClient          = &oauthError{code: "invalid_client", status: http.StatusUnauthorized, description: service.ErrInvalidClient.Message}
	errUnsupportedGrantType   = &oauthError{code: "unsupported_grant_type", status: http.StatusBadRequest}
	errTemporarilyUnavailable = &oauthError{code: "temporarily_unavailable", status: http.StatusServiceUnavailable}
	errServerError            = &oauthError{code: "server_error", status: http.StatusInternalServerError, description: "Internal error."}
)

// writeOAuth answers e as an RFC 6749 error body and returns its code, for
// metrics: a fixed set of constants, so the label stays small.
func writeOAuth(w http.ResponseWriter, e *oauthError) string {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+apierr.Realm+`"`)
	}
	if (e.status == http.StatusServiceUnavailable || e.status == http.StatusTooManyRequests) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	noStore(w)
	apierr.WriteJSON(w, e.status, api.OAuthError{Error: e.code, ErrorDescription: e.description})
	return e.code
}

// oauthFromService translates a service failure at an IdP endpoint into
// the OAuth error it is answered with, logging what the caller is not told.
func (s *Server) oauthFromService(err error) *oauthError {
	var limited *gatehouse.RateLimitedError
	switch {
	case errors.Is(err, service.ErrCallerGone):
		// Not an outage: under overload, callers that give up while queued
		// for signing are expected, and must not read as store failures.
		s.log.Debug("IdP request abandoned by the caller", "err", err)
		return errTemporarilyUnavailable.with("The request ended before a token was signed.")
	case errors.As(err, &limited):
		// RFC 6749 has no code for this; temporarily_unavailable is its
		// meaning ("unable to handle the request due to a temporary
		// overloading"), and 429 with Retry-After tells clients when.
		return errTemporarilyUnavailable.withStatus(http.StatusTooManyRequests).with("Too many failed authentications; retry later.")
	case errors.Is(err, service.ErrInvalidClient):
		return errInvalidClient
	case errors.As(err, new(*service.NoActiveSigningKeyError)):
		// The service logged the cause once; every request would repeat it.
		return errTemporarilyUnavailable.with("No signing key is active yet; retry later.")
	case errors.Is(err, gatehouse.ErrUnavailable):
		s.log.Error("IdP request failed: store unavailable", "err", err)
		return errTemporarilyUnavailable.with("The service is temporarily unavailable; retry later.")
	default:
		s.log.Error("IdP request failed", "err", err)
		return errServerError
	}
}

// writeServiceOAuthError answers a service failure at an IdP endpoint and
// returns the metrics label of the answer.
func (s *Server) writeServiceOAuthError(w http.ResponseWriter, err error) string {
	if wait, ok := retryAfter(err); ok {
		w.Header().Set("Retry-After", apierr.RetryAfterSeconds(wait))
	}
	code := writeOAuth(w, s.oauthFromService(err))
	if errors.Is(err, service.ErrCallerGone) {
		// Counted apart from outages, which temporarily_unavailable is.
		return "canceled"
	}
	return code
}

// retryAfter is how long a refusal that knows when it ends tells its
// caller to wait.
func retryAfter(err error) (time.Duration, bool) {
	var limited *gatehouse.RateLimitedError
	if errors.As(err, &limited) {
		return limited.RetryAfter, true
	}
	var noKey *service.NoActiveSigningKeyError
	if errors.As(err, &noKey) {
		return noKey.RetryAfter, true
	}
	return 0, false
}
