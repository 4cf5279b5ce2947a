package guard

import (
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Error codes of a refused token, as the data center's own API answers
// them in {"error":{"code":...}}. They are spelled out rather than taken
// from the server's packages so that the guard's API stands on its own; a
// test holds them equal.
const (
	CodeBearerTokenMissing  = "bearerTokenMissing"
	CodeTokenMalformed      = "tokenMalformed"
	CodeTokenIssuerMismatch = "tokenIssuerMismatch"
	CodeTokenInvalid        = "tokenInvalid"
	CodeTokenExpired        = "tokenExpired"
	CodeTokenRevoked        = "tokenRevoked"
)

// Error is a token refused for its own fault; Middleware answers it 401.
// Test for it with errors.As.
type Error struct {
	Code    string // one of the Code constants
	Message string // one sentence for a person; never the token
}

// Error returns "code: message", as the data center's own errors read.
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Unwrap lets errors.Is match the data center's unauthenticated kind, so
// that code which classifies the server's own errors classifies the
// guard's alike.
func (e *Error) Unwrap() error { return gatehouse.ErrUnauthenticated }

// refused builds an *Error.
func refused(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// asRefusal turns a refusal of package token (or of the wire reader) into
// an *Error, and leaves any other error, which says nothing about the
// token, as it is.
func asRefusal(err error) error {
	var ge *gatehouse.Error
	if errors.As(err, &ge) && errors.Is(ge.Kind, gatehouse.ErrUnauthenticated) {
		return &Error{Code: ge.Code, Message: ge.Message}
	}
	return err
}

// ErrClosed is the cause of the UnavailableError answered after Close.
var ErrClosed = errors.New("guard: closed")

// UnavailableError means a token could not be checked because a data
// center's discovery, JWKS or introspection endpoint failed. It says
// nothing about the token: the request may succeed after RetryAfter.
// Middleware answers it 503, as the data center answers its own outages.
type UnavailableError struct {
	Issuer     string        // the issuer whose endpoint failed
	RetryAfter time.Duration // when the guard will try the endpoint again
	Err        error         // what failed
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("guard: issuer %s unavailable: %v", e.Issuer, e.Err)
}

// Unwrap returns Err and the data center's unavailable kind, which
// errors.Is then matches.
func (e *UnavailableError) Unwrap() []error { return []error{gatehouse.ErrUnavailable, e.Err} }
