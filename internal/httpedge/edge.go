// Package httpedge is the HTTP edge every Gatehouse listener shares, the
// data center's server and the global locator alike: the client's address
// behind trusted proxies, one log line per request, panic recovery, the
// server's timeouts and limits, and graceful shutdown. Both listeners face
// the same internet, so they must defend and log alike.
package httpedge

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apierr"
)

// Timeouts and limits against slow clients (slowloris), stuck connections
// and oversized headers.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// Options configure Handler.
type Options struct {
	Logger *slog.Logger // nil discards the request log
	// TrustedProxies are the load balancers and proxies whose
	// X-Forwarded-For is believed; without them the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// Observe, if set, is told of every request once it is answered, with
	// the status sent (for metrics). The request's Pattern is set by then.
	Observe func(r *http.Request, status int, elapsed time.Duration)
}

// Handler wraps h in the edge's middleware. The client's address is
// resolved first, so the log and h both see the real caller; panics are
// recovered inside the logging, so a request that panicked is logged and
// observed with the 500 it was answered.
func Handler(h http.Handler, o Options) http.Handler {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return ClientIPResolver(o.TrustedProxies)(logRequests(log, o.Observe, recoverPanics(log, h)))
}

// statusRecorder remembers the status a handler sent.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	// 1xx answers are interim; the status of the request is the final one.
	if r.status == 0 && code >= 200 {
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

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// sent is the status the client got: a handler that wrote nothing at all
// is answered 200 by net/http.
func (r *statusRecorder) sent() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// logRequests logs one line per request: method, path, status, duration and
// client address. It never logs headers, query strings or bodies, where
// credentials, tokens and looked-up logins travel.
func logRequests(log *slog.Logger, observe func(*http.Request, int, time.Duration), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		elapsed := time.Since(start)
		status := rec.sent()
		if observe != nil {
			observe(r, status, elapsed)
		}
		log.Info("request",
			"method", r.Method,
			"path", r.URL.Path,
			"status", status,
			"duration_ms", float64(elapsed.Microseconds())/1000,
			"remote", ClientIP(r))
	})
}

// recoverPanics turns a panic into a 500 with a generic body; the stack goes
// to the log, never to the client.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				apierr.WriteAPIError(w, http.StatusInternalServerError, gatehouse.CodeInternalError, "Internal error.", 0)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Serve serves h on ln, with the edge's timeouts and limits, until ctx
// ends; then it shuts down as ServeUntil does. Requests see a context that
// is not cancelled when ctx ends, so those in flight may finish.
func Serve(ctx context.Context, h http.Handler, ln net.Listener, grace time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	return ServeUntil(ctx, hs, ln, grace)
}
