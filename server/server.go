// Package server is Gatehouse's HTTP transport: the IdP endpoints (token,
// keys, discovery), the account API under /api/2, health checks, and the
// rendering of every error. It translates HTTP to calls of the service
// package and back, and holds no rules of its own.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apierr"
	"github.com/gatehouse-dev/gatehouse/internal/httpedge"
	"github.com/gatehouse-dev/gatehouse/metrics"
	"github.com/gatehouse-dev/gatehouse/service"
)

// JWKSMaxAge is how long verifiers may cache the JWKS.
const JWKSMaxAge = 5 * time.Minute

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// Config configures the HTTP server.
type Config struct {
	Service       *service.Service
	DatacenterURL string
	Logger        *slog.Logger
	// Metrics, when set, counts what the server sees and is served at
	// GET /metrics; nil means no metrics and no such route.
	Metrics *metrics.Metrics
	// Console, when set, is served under /console/; nil means no console.
	Console http.Handler
	// TrustedProxies are the load balancers and proxies whose
	// X-Forwarded-For is believed; without them the TCP peer is the client.
	TrustedProxies []netip.Prefix
}

// Server is the data center's HTTP front.
type Server struct {
	svc     *service.Service
	log     *slog.Logger
	baseURL string
	handler http.Handler
	metrics *metrics.Metrics // nil-safe: a nil *Metrics records nothing
	console http.Handler
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{svc: cfg.Service, log: cfg.Logger, baseURL: strings.TrimRight(cfg.DatacenterURL, "/"), metrics: cfg.Metrics, console: cfg.Console}
	s.handler = httpedge.Handler(s.routes(), httpedge.Options{
		Logger:         cfg.Logger,
		TrustedProxies: cfg.TrustedProxies,
		// r.Pattern is set by the mux while serving, so it is read only
		// after. The pattern, unlike r.URL.Path, holds no client ids: the
		// route label stays a small fixed set.
		Observe: func(r *http.Request, status int, elapsed time.Duration) {
			s.metrics.ObserveRequest(r.Pattern, r.Method, status, elapsed)
		},
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	token := allow(s.handleToken, http.MethodPost)
	mux.Handle("/bc/idp/token", token)
	mux.Handle("/api/2/idp/token", token)
	introspect := allow(s.handleIntrospect, http.MethodPost)
	mux.Handle("/bc/idp/introspect_token", introspect)
	mux.Handle("/api/2/idp/introspect_token", introspect)
	revoke := allow(s.handleRevoke, http.MethodPost)
	mux.Handle("/bc/idp/revoke_token", revoke)
	mux.Handle("/api/2/idp/revoke_token", revoke)
	keys := allow(s.handleKeys, http.MethodGet, http.MethodHead)
	mux.Handle("/bc/idp/keys", keys)
	mux.Handle("/api/2/idp/keys", keys)
	disco := allow(s.handleDiscovery, http.MethodGet, http.MethodHead)
	mux.Handle("/bc/.well-known/openid-configuration", disco)
	mux.Handle("/.well-known/openid-configuration", disco)
	mux.Handle("/api/2/openapi.json", allow(s.handleOpenAPI, http.MethodGet, http.MethodHead))

	mux.Handle("/healthz", allow(s.handleHealth, http.MethodGet, http.MethodHead))
	mux.Handle("/readyz", allow(s.handleReady, http.MethodGet, http.MethodHead))
	// The locator route: unauthenticated, rate-limited per address.
	mux.Handle("/api/1/accounts", allow(s.handleLocate, http.MethodGet))
	if s.metrics != nil {
		// No bearer token: Prometheus scrapes with none, and the figures
		// name no client. Operators who do not want them public block
		// /metrics at the network edge (load balancer, ingress).
		mux.Handle("/metrics", allow(s.metrics.Handler().ServeHTTP, http.MethodGet, http.MethodHead))
	}

	api := http.NewServeMux()
	api.Handle("/api/2/clients", allow(s.handleClients, http.MethodGet, http.MethodPost))
	api.Handle("/api/2/clients/{id}", allow(s.handleClient, http.MethodGet, http.MethodPut, http.MethodDelete))
	api.Handle("/api/2/clients/{id}/secret", allow(s.handleRegenerate, http.MethodPost))
	api.Handle("/api/2/keys", allow(s.handleKeysList, http.MethodGet))
	api.Handle("/api/2/keys/rotate", allow(s.handleKeysRotate, http.MethodPost))
	api.Handle("/api/2/audit", allow(s.handleAudit, http.MethodGet))
	api.Handle("/api/2/tenants", allow(s.handleTenants, http.MethodPost))
	api.Handle("/api/2/tenants/{id}", allow(s.handleTenant, http.MethodGet, http.MethodPut))
	api.Handle("/api/2/tenants/{id}/children", allow(s.handleTenantChildren, http.MethodGet))
	api.Handle("/api/2/datacenters", allow(s.handleDatacenters, http.MethodGet))
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apierr.WriteAPIError(w, http.StatusNotFound, "notFound", "No such API route.", 0)
	})
	mux.Handle("/api/2/", s.requireBearer(api))

	// The web console: server-rendered pages over the same service calls,
	// mounted under the server's own middleware (client address, request
	// log, panic recovery).
	if s.console != nil {
		mux.Handle("/console/", s.console)
		mux.Handle("/console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	}

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apierr.WriteAPIError(w, http.StatusNotFound, "notFound", "Not found.", 0)
	})
	return mux
}

// allow answers 405 with an Allow header for methods a route lacks, in the
// same JSON shape as every other error.
func allow(h http.HandlerFunc, methods ...string) http.Handler {
	list := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range methods {
			if r.Method == m {
				h(w, r)
				return
			}
		}
		w.Header().Set("Allow", list)
		apierr.WriteAPIError(w, http.StatusMethodNotAllowed, "methodNotAllowed", fmt.Sprintf("Method %s is not allowed here; use %s.", r.Method, list), 0)
	})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	apierr.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.svc.Ready(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		w.Header().Set("Retry-After", "1")
		apierr.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	apierr.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Serve serves on ln until ctx ends, then shuts down gracefully: in-flight
// requests get up to grace to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	return httpedge.Serve(ctx, s, ln, grace, s.log)
}
