// Package console is Gatehouse's web console under /console: a tenant admin
// signs in with an API client's id and secret and manages the tenant's API
// clients in the browser (list and search, create, settings, regenerate the
// secret, enable, disable, delete), with each client's recent audit entries
// and a chart of the tokens it was issued per hour.
//
// Pages are rendered on the server with html/template; the browser holds
// nothing but an opaque session cookie (no token, nothing in its storage).
// Every action goes through the same service methods, and so the same
// authorization rules, as the /api/2 routes: the console has no rules of its
// own beyond who may sign in to it. Templates, styles and the one small
// script are embedded in the binary, so a fresh machine needs no build step.
package console

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/httpedge"
	"github.com/gatehouse-dev/gatehouse/service"
)

// Prefix is where the console is mounted.
const Prefix = "/console/"

//go:embed templates/*.html static/*
var assets embed.FS

// ActivitySource supplies a client's recent audit entries for its settings
// page. Its method is the service's ListAudit, so a *service.Service that
// has it is used automatically; Config.Activity overrides that.
type ActivitySource interface {
	ListAudit(ctx context.Context, p *service.Principal, target, after string, limit int) ([]gatehouse.AuditEntry, string, error)
}

// Config configures the console.
type Config struct {
	Service *service.Service
	// DatacenterURL is this data center's public URL: the one the token
	// request snippets name, and, when it is https, the reason the session
	// cookie is Secure even behind a proxy that terminates TLS.
	DatacenterURL string
	Logger        *slog.Logger
	// Activity, if set, supplies the audit entries shown on a client's
	// settings page; nil means the Service's own audit log if it has one.
	Activity ActivitySource
	// Now is the clock of session expiry; nil means time.Now.
	Now func() time.Time
	// IdleTimeout (30m) ends a session nobody used for that long;
	// MaxLifetime (12h) ends any session that old. MaxSessions (10,000)
	// bounds the memory sessions take.
	IdleTimeout time.Duration
	MaxLifetime time.Duration
	MaxSessions int
}

// Console serves the console's pages; mount it at Prefix.
type Console struct {
	svc       *service.Service
	log       *slog.Logger
	dcURL     string
	httpsURL  bool
	activity  ActivitySource
	sessions  *sessionStore
	crossSite *http.CrossOriginProtection
	pages     map[string]*page
	static    map[string]staticFile
	handler   http.Handler
}

// New builds the console.
func New(cfg Config) *Console {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.MaxLifetime <= 0 {
		cfg.MaxLifetime = 12 * time.Hour
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 10_000
	}
	if cfg.Activity == nil {
		// The service's audit log, when it has one: checked at run time so
		// that the console builds with or without it.
		if src, ok := any(cfg.Service).(ActivitySource); ok {
			cfg.Activity = src
		}
	}
	dcURL := strings.TrimRight(cfg.DatacenterURL, "/")
	c := &Console{
		svc:       cfg.Service,
		log:       cfg.Logger,
		dcURL:     dcURL,
		httpsURL:  strings.HasPrefix(strings.ToLower(dcURL), "https://"),
		activity:  cfg.Activity,
		sessions:  newSessionStore(cfg.Now, cfg.IdleTimeout, cfg.MaxLifetime, cfg.MaxSessions),
		crossSite: http.NewCrossOriginProtection(),
		pages:     mustParsePages(),
		static:    mustLoadStatic(),
	}
	// Behind a proxy that rewrites Host, the browser's Origin is still the
	// data center's public URL.
	if u, err := url.Parse(dcURL); err == nil && u.Scheme != "" && u.Host != "" {
		_ = c.crossSite.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	c.crossSite.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, nil, http.StatusForbidden, "This form was sent from another site, so it was refused.")
	}))
	c.handler = c.routes()
	return c
}

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console/{$}", c.handleHome)
	mux.HandleFunc("GET /console/static/{name}", c.handleStatic)
	mux.HandleFunc("GET /console/signin", c.handleSignInForm)
	mux.HandleFunc("POST /console/signin", c.handleSignIn)
	mux.Handle("POST /console/signout", c.authed(c.handleSignOut))
	mux.Handle("GET /console/clients", c.authed(c.handleList))
	mux.Handle("GET /console/clients/new", c.authed(c.handleNewForm))
	mux.Handle("POST /console/clients", c.authed(c.handleCreate))
	mux.Handle("GET /console/clients/{id}", c.authed(c.handleSettings))
	mux.Handle("GET /console/clients/{id}/secret", c.authed(c.handleSecret))
	mux.Handle("GET /console/clients/{id}/regenerate", c.authed(c.handleRegenerateConfirm))
	mux.Handle("POST /console/clients/{id}/regenerate", c.authed(c.handleRegenerate))
	mux.Handle("POST /console/clients/{id}/status", c.authed(c.handleStatus))
	mux.Handle("GET /console/clients/{id}/delete", c.authed(c.handleDeleteConfirm))
	mux.Handle("POST /console/clients/{id}/delete", c.authed(c.handleDelete))
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, nil, http.StatusNotFound, "There is no such page in the console.")
	})
	// Cross-site POSTs are refused before any handler runs, from the
	// browser's own account of where the form came from (Sec-Fetch-Site,
	// else Origin against Host); the per-session token in every form is the
	// second, independent line.
	return c.crossSite.Handler(mux)
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No inline script or style anywhere, so the policy can forbid both:
	// an injected <script> would not run even if escaping ever failed.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	c.handler.ServeHTTP(w, r)
}

// secure reports whether the browser reached us over HTTPS: directly, or
// through a proxy in front of an https data center URL.
func (c *Console) secure(r *http.Request) bool { return r.TLS != nil || c.httpsURL }

// remoteIP is the client's address, as the token endpoint sees it (behind
// trusted proxies too), for the rate limiter and the audit log.
func remoteIP(r *http.Request) string { return httpedge.ClientIP(r) }

// staticFile is an embedded asset with its content hash, which versions
// its URL so it can be cached for long and still change with the binary.
type staticFile struct {
	body        []byte
	contentType string
	etag        string
}

func mustLoadStatic() map[string]staticFile {
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
	out := map[string]staticFile{}
	entries, err := fs.ReadDir(assets, "static")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := assets.ReadFile("static/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		ext := e.Name()[strings.LastIndexByte(e.Name(), '.'):]
		out[e.Name()] = staticFile{body: b, contentType: types[ext], etag: hex.EncodeToString(sum[:8])}
	}
	return out
}

// assetURL is the versioned URL of an embedded asset.
func (c *Console) assetURL(name string) string {
	return Prefix + "static/" + name + "?v=" + c.static[name].etag
}

func (c *Console) handleStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := c.static[r.PathValue("name")]
	if !ok || f.contentType == "" {
		c.renderError(w, r, nil, http.StatusNotFound, "There is no such file.")
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", `"`+f.etag+`"`)
	if r.URL.Query().Get("v") == f.etag {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader(string(f.body)))
}
