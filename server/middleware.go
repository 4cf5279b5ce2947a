package server

import (
	"context"
	"errors"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
	"github.com/gatehouse-dev/gatehouse/metrics"
	"github.com/gatehouse-dev/gatehouse/service"
)

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests logs one line per request: method, path, status, duration and
// peer. It never logs headers, query strings or bodies, where credentials
// and tokens travel. It also records the request's latency by route.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		elapsed := time.Since(start)
		status := rec.status
		if status == 0 {
			status = http.StatusOK // what net/http sends for a handler that wrote nothing
		}
		// r.Pattern is set by the mux during next.ServeHTTP, so it is read
		// only now. The pattern, unlike r.URL.Path, holds no client ids:
		// the route label stays a small fixed set.
		s.metrics.ObserveRequest(r.Pattern, r.Method, status, elapsed)
		s.log.Info("request",
			"method", r.Method,
			"path", r.URL.Path,
			"status", rec.status,
			"duration_ms", float64(elapsed.Microseconds())/1000,
			"remote", remoteIP(r))
	})
}

// recoverPanics turns a panic into a 500 with a generic body; the stack goes
// to the log, never to the client.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				wire.WriteAPIError(w, http.StatusInternalServerError, gatehouse.CodeInternalError, "Internal error.", 0)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// remoteIP is the client's address: see wire.ClientIP.
func remoteIP(r *http.Request) string { return wire.ClientIP(r) }

type principalKey struct{}

func principalFrom(ctx context.Context) *service.Principal {
	p, _ := ctx.Value(principalKey{}).(*service.Principal)
	return p
}

// requireBearer authenticates every request with its bearer token and puts
// the principal in the request context.
func (s *Server) requireBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := wire.BearerToken(r)
		if err == nil && tok == "" {
			s.metrics.BearerChecked(gatehouse.CodeBearerTokenMissing)
			wire.WriteMissing(w)
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
	case wire.Status(err) == http.StatusServiceUnavailable:
		return gatehouse.CodeServiceUnavailable
	default:
		return gatehouse.CodeInternalError
	}
}
