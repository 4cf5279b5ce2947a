package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/service"
)

func TestOAuthErrorsAreValues(t *testing.T) {
	e := errInvalidRequest.withStatus(http.StatusRequestEntityTooLarge).with("Too large.")
	if !errors.Is(e, errInvalidRequest) || errors.Is(e, errInvalidClient) {
		t.Errorf("errors.Is by code: %v", e)
	}
	if !errors.Is(fmt.Errorf("wrapped: %w", e), errInvalidRequest) {
		t.Error("a wrapped OAuth error is not found")
	}
	if errInvalidRequest.status != http.StatusBadRequest || errInvalidRequest.description != "" {
		t.Errorf("refining an error changed the value itself: %+v", errInvalidRequest)
	}
}

// Service failures become OAuth errors by kind and identity, never by
// comparing code strings.
func TestOAuthFromService(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		err    error
		want   *oauthError
		status int
	}{
		{fmt.Errorf("authenticating: %w", service.ErrInvalidClient), errInvalidClient, http.StatusUnauthorized},
		{&gatehouse.RateLimitedError{RetryAfter: time.Second}, errTemporarilyUnavailable, http.StatusTooManyRequests},
		{fmt.Errorf("store: %w", gatehouse.ErrUnavailable), errTemporarilyUnavailable, http.StatusServiceUnavailable},
		{service.ErrCallerGone, errTemporarilyUnavailable, http.StatusServiceUnavailable},
		// Another error that happens to carry the code is not the service's
		// client authentication failure.
		{gatehouse.Errorf(gatehouse.ErrInvalid, "invalid_client", "x"), errServerError, http.StatusInternalServerError},
		{errors.New("boom"), errServerError, http.StatusInternalServerError},
	} {
		got := s.oauthFromService(tc.err)
		if !errors.Is(got, tc.want) || got.status != tc.status {
			t.Errorf("%v: answered %s %d, want %s %d", tc.err, got.code, got.status, tc.want.code, tc.status)
		}
	}
}
