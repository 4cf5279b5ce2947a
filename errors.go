package gatehouse

import (
	"errors"
	"fmt"
	"time"
)

// Kinds of failure. Every error the domain returns wraps one of them, and
// only the transport edge maps a kind to a status code.
var (
	ErrNotFound        = errors.New("not found")
	ErrConflict        = errors.New("conflict")
	ErrInvalid         = errors.New("invalid input")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
	ErrUnavailable     = errors.New("unavailable")
	ErrRateLimited     = errors.New("rate limited")
	// ErrCorrupt: the store's files are damaged. Nothing it answers can be
	// trusted; only a restore from a backup repairs it.
	ErrCorrupt = errors.New("store is damaged")
)

// Error codes of the account API's error body ({"error":{"code":...}}).
// The bearer codes are the platform's; the others are ours.
const (
	CodeBearerTokenMissing   = "bearerTokenMissing"
	CodeTokenMalformed       = "tokenMalformed"
	CodeTokenInvalid         = "tokenInvalid"
	CodeTokenExpired         = "tokenExpired"
	CodeTokenIssuerMismatch  = "tokenIssuerMismatch"
	CodeClientDisabled       = "clientDisabled"
	CodeClientNotFound       = "clientNotFound"
	CodeTokenRevoked         = "tokenRevoked"
	CodeAuthorizationFailed  = "authorizationFailed"
	CodeNotFound             = "notFound"
	CodeValidationError      = "validationError"
	CodeConflict             = "conflict"
	CodeServiceUnavailable   = "serviceUnavailable"
	CodeInternalError        = "internalError"
	CodeMethodNotAllowed     = "methodNotAllowed"
	CodeUnsupportedMediaType = "unsupportedMediaType"
)

// Error is a failure that is safe to show to the caller: its Code and
// Message never carry secrets, tokens or internal detail.
type Error struct {
	Kind    error  // one of the Err* kinds above
	Code    string // an API error code
	Message string // one sentence for a person
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }
func (e *Error) Unwrap() error { return e.Kind }

// Errorf builds an *Error of the given kind and code.
func Errorf(kind error, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// RateLimitedError refuses a request for too many recent failures.
type RateLimitedError struct {
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many failed attempts; retry after %s", e.RetryAfter)
}

func (e *RateLimitedError) Unwrap() error { return ErrRateLimited }
