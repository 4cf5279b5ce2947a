package console

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apierr"
	"github.com/gatehouse-dev/gatehouse/service"
)

const (
	// maxFormBytes bounds every form body; the largest form holds a name.
	maxFormBytes = 64 << 10
	// listPageSize is how many clients a page of the list shows.
	listPageSize = 50
	// activityLimit is how many audit entries a settings page shows.
	activityLimit = 10
)

// signinCookie holds the sign-in form's anti-forgery token: there is no
// session yet to keep it in, and creating sessions for anonymous visitors
// would let strangers fill the bounded store. Its path keeps it off every
// other request.
const signinCookie = "gatehouse_console_signin"

// request is an authenticated console request: its session and the
// principal rebuilt for it.
type request struct {
	sess sessionView
	p    *service.Principal
}

func (a *request) isSelf(clientID string) bool { return a.p.Client.ID == clientID }

// authed runs h for a signed-in admin, and checks the anti-forgery token
// of every POST. Without a live session it redirects to the sign-in page.
func (c *Console) authed(h func(http.ResponseWriter, *http.Request, *request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every signed-in page may show a secret or a tenant's clients:
		// nothing of it belongs in any cache.
		w.Header().Set("Cache-Control", "no-store")
		id := ""
		if ck, err := r.Cookie(sessionCookie); err == nil {
			id = ck.Value
		}
		sess, ok := c.sessions.use(id)
		if !ok {
			if id == "" {
				http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
				return
			}
			c.endSession(w, r, id, "expired")
			return
		}
		p, err := c.svc.SessionPrincipal(r.Context(), sess.clientID, sess.generation, remoteIP(r))
		if err != nil {
			var ge *gatehouse.Error
			if errors.As(err, &ge) && errors.Is(err, gatehouse.ErrUnauthenticated) {
				c.endSession(w, r, id, ge.Code)
				return
			}
			c.fail(w, r, nil, err)
			return
		}
		a := &request{sess: sess, p: p}
		if r.Method == http.MethodPost {
			if !c.parseForm(w, r, a) {
				return
			}
			if !sess.checkCSRF(r.PostForm.Get("csrf")) {
				c.renderError(w, r, a, http.StatusForbidden, "This form is out of date or did not come from the console, so it was refused. Go back, reload the page and try again.")
				return
			}
		}
		h(w, r, a)
	})
}

// parseForm reads a bounded urlencoded form body; only the body counts,
// never the query string.
func (c *Console) parseForm(w http.ResponseWriter, r *http.Request, a *request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, a, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	return true
}

// endSession deletes a session server-side, expires its cookie, and sends
// the browser to the sign-in page saying why.
func (c *Console) endSession(w http.ResponseWriter, r *http.Request, id, reason string) {
	c.sessions.delete(id)
	c.setCookie(w, r, sessionCookie, "", cookiePath, -1)
	http.Redirect(w, r, Prefix+"signin?reason="+url.QueryEscape(reason), http.StatusSeeOther)
}

// setCookie sets a console cookie: HttpOnly (no script reads it),
// SameSite=Strict (no other site's page sends it), Secure on HTTPS.
// maxAge 0 means a browser-session cookie, negative deletes it.
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   c.secure(r),
		SameSite: http.SameSiteStrictMode,
	})
}

func (c *Console) handleHome(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, Prefix+"clients", http.StatusSeeOther)
}

// Sign-in and sign-out.

// signinReasons explains why the sign-in page was shown; the query
// parameter selects one of these fixed texts and is never echoed.
var signinReasons = map[string]string{
	"signedout":                       "You have signed out.",
	"expired":                         "Your session has expired. Sign in again.",
	gatehouse.CodeClientNotFound:      "You were signed out: the API client you signed in with no longer exists.",
	gatehouse.CodeClientDisabled:      "You were signed out: the API client you signed in with has been disabled.",
	gatehouse.CodeTokenRevoked:        "You were signed out: the API key you signed in with has been regenerated. Sign in with the new secret.",
	gatehouse.CodeAuthorizationFailed: "You were signed out: the API client you signed in with is no longer a tenant admin.",
	reasonDisabledSelf:                "You disabled the API client you were signed in with, so you were signed out.",
	reasonDeletedSelf:                 "You deleted the API client you were signed in with, so you were signed out.",
}

const (
	reasonDisabledSelf = "disabled-self"
	reasonDeletedSelf  = "deleted-self"
)

type signinPage struct {
	ClientID string
	Message  string
}

func (c *Console) handleSignInForm(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if _, ok := c.sessions.use(ck.Value); ok {
			http.Redirect(w, r, Prefix+"clients", http.StatusSeeOther)
			return
		}
	}
	c.renderSignIn(w, r, http.StatusOK, signinPage{}, signinReasons[r.URL.Query().Get("reason")])
}

// renderSignIn renders the sign-in form with a fresh anti-forgery token in
// its cookie and hidden field.
func (c *Console) renderSignIn(w http.ResponseWriter, r *http.Request, status int, pg signinPage, notice string) {
	token := randomToken()
	c.setCookie(w, r, signinCookie, token, Prefix+"signin", 3600)
	w.Header().Set("Cache-Control", "no-store")
	c.render(w, r, nil, status, "signin", view{Title: "Sign in", CSRF: token, Notice: notice, Page: pg})
}

func (c *Console) handleSignIn(w http.ResponseWriter, r *http.Request) {
	if !c.parseForm(w, r, nil) {
		return
	}
	pg := signinPage{ClientID: strings.TrimSpace(r.PostForm.Get("client_id"))}
	ck, err := r.Cookie(signinCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		pg.Message = "The sign-in form had expired. Please sign in again."
		c.renderSignIn(w, r, http.StatusForbidden, pg, "")
		return
	}
	// Generated secrets use only [A-Za-z0-9_-], so trimming what a paste
	// brings along cannot change a valid secret.
	secret := strings.TrimSpace(r.PostForm.Get("client_secret"))
	if pg.ClientID == "" || secret == "" {
		pg.Message = "Enter the client id and the secret of a tenant admin API client."
		c.renderSignIn(w, r, http.StatusBadRequest, pg, "")
		return
	}
	p, err := c.svc.AuthenticateAdmin(r.Context(), service.ClientCredentials{ClientID: pg.ClientID, Secret: secret, RemoteIP: remoteIP(r)})
	var limited *gatehouse.RateLimitedError
	switch {
	case err == nil:
	case errors.As(err, &limited):
		w.Header().Set("Retry-After", apierr.RetryAfterSeconds(limited.RetryAfter))
		pg.Message = "Too many failed sign-ins from your address. Wait " + apierr.RetryAfterSeconds(limited.RetryAfter) + " seconds and try again."
		c.renderSignIn(w, r, http.StatusTooManyRequests, pg, "")
		return
	case errors.Is(err, gatehouse.ErrUnauthenticated):
		pg.Message = "Sign-in failed: the client id or secret is wrong, or the client is disabled."
		c.renderSignIn(w, r, http.StatusUnauthorized, pg, "")
		return
	case errors.Is(err, gatehouse.ErrForbidden):
		pg.Message = "This API client is not a tenant admin. Only tenant admins can use the console."
		c.renderSignIn(w, r, http.StatusForbidden, pg, "")
		return
	default:
		c.fail(w, r, nil, err)
		return
	}
	// A new id at every sign-in, and the old session (if any) gone: an id
	// planted before sign-in is never promoted to a signed-in one.
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.delete(ck.Value)
	}
	id, _ := c.sessions.create(p.Client.ID, p.Generation)
	c.setCookie(w, r, sessionCookie, id, cookiePath, 0)
	c.setCookie(w, r, signinCookie, "", Prefix+"signin", -1)
	http.Redirect(w, r, Prefix+"clients", http.StatusSeeOther)
}

func (c *Console) handleSignOut(w http.ResponseWriter, r *http.Request, a *request) {
	c.endSession(w, r, a.sess.id, "signedout")
}

// The clients list.

type listPage struct {
	Query   string
	Items   []clientView
	NextURL string
	Filter  bool
}

func (c *Console) handleList(w http.ResponseWriter, r *http.Request, a *request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	// What no name can contain finds nothing anyway: the form's own bound
	// keeps an overlong query from being an error page.
	if utf8.RuneCountInString(q) > service.MaxClientNameRunes {
		q = string([]rune(q)[:service.MaxClientNameRunes])
	}
	after := r.URL.Query().Get("after")
	// The service's search, which the API offers too (GET
	// /api/2/clients?q=), so both find and may list the same clients.
	page, err := c.svc.FindClients(r.Context(), a.p, service.ClientQuery{Text: q, After: after, Limit: listPageSize})
	if err != nil {
		c.fail(w, r, a, err)
		return
	}
	pg := listPage{Query: q, Filter: q != ""}
	for _, cl := range page.Clients {
		pg.Items = append(pg.Items, toView(cl))
	}
	if page.Next != "" {
		v := url.Values{"after": {page.Next}}
		if q != "" {
			v.Set("q", q)
		}
		pg.NextURL = Prefix + "clients?" + v.Encode()
	}
	c.render(w, r, a, http.StatusOK, "clients", view{Title: "API clients", Nav: "clients", Page: pg})
}

// Creating a client.

type newPage struct {
	Name       string
	AuthMethod string
	Admin      bool
	Message    string
}

func (c *Console) handleNewForm(w http.ResponseWriter, r *http.Request, a *request) {
	c.render(w, r, a, http.StatusOK, "new", view{Title: "New API client", Nav: "new", Page: newPage{AuthMethod: string(gatehouse.AuthSecretBasic)}})
}

func (c *Console) handleCreate(w http.ResponseWriter, r *http.Request, a *request) {
	pg := newPage{
		Name:       strings.TrimSpace(r.PostForm.Get("name")),
		AuthMethod: r.PostForm.Get("auth_method"),
		Admin:      r.PostForm.Get("admin") != "",
	}
	retry := func(msg string) {
		pg.Message = msg
		c.render(w, r, a, http.StatusBadRequest, "new", view{Title: "New API client", Nav: "new", Page: pg})
	}
	// The console asks for a name, which the API does not; how long it
	// may be is the service's rule, answered below like any invalid field.
	if pg.Name == "" {
		retry("Give the client a name, such as the CyberApp it is for.")
		return
	}
	data, _ := json.Marshal(map[string]string{"client_name": pg.Name})
	role := gatehouse.RoleNone
	if pg.Admin {
		role = gatehouse.RoleTenantAdmin
	}
	cl, secret, err := c.svc.CreateClient(r.Context(), a.p, service.ClientSpec{
		AuthMethod: gatehouse.AuthMethod(pg.AuthMethod),
		Role:       role,
		Data:       data,
	})
	if err != nil {
		var ge *gatehouse.Error
		if errors.Is(err, gatehouse.ErrInvalid) && errors.As(err, &ge) {
			retry(ge.Message)
			return
		}
		c.fail(w, r, a, err)
		return
	}
	c.redirectToSecret(w, r, a, cl.ID, secret, true)
}

// redirectToSecret sends the browser to the page that shows a new secret
// once. The secret waits in the session for that very page, which the
// redirect names by a one-time reveal id (never the secret itself), so no
// other request of the session, from another tab or a prefetch, takes it.
func (c *Console) redirectToSecret(w http.ResponseWriter, r *http.Request, a *request, clientID, secret string, created bool) {
	revealID := c.sessions.offerReveal(a.sess.id, clientID, secret, created)
	http.Redirect(w, r, secretURL(clientID, revealID), http.StatusSeeOther)
}

// Showing a new secret, once.

type secretPage struct {
	Client  clientView
	Secret  string
	Created bool
	// SignedOut: the admin regenerated its own key, which ended the session.
	SignedOut bool
	Curl      string
	Python    string
}

func (c *Console) handleSecret(w http.ResponseWriter, r *http.Request, a *request) {
	id := r.PathValue("id")
	if r.Method == http.MethodHead {
		// Only the GET that renders the secret may take it.
		w.WriteHeader(http.StatusOK)
		return
	}
	rv, ok := c.sessions.takeReveal(a.sess.id, r.URL.Query().Get("reveal"), id)
	if !ok {
		c.sessions.setNotice(a.sess.id, "A secret is shown only once, right after it is created. If it was lost, regenerate the API key.")
		http.Redirect(w, r, clientURL(id), http.StatusSeeOther)
		return
	}
	cl, err := c.svc.GetClient(r.Context(), a.p, id)
	if err != nil {
		c.fail(w, r, a, err)
		return
	}
	c.renderSecret(w, r, a, cl, rv.secret, rv.created)
}

func (c *Console) renderSecret(w http.ResponseWriter, r *http.Request, a *request, cl gatehouse.Client, secret string, created bool) {
	title := "API key regenerated"
	if created {
		title = "API client created"
	}
	pg := secretPage{Client: toView(cl), Secret: secret, Created: created, SignedOut: a == nil}
	pg.Curl, pg.Python = snippets(c.dcURL, cl.ID, secret, cl.AuthMethod)
	c.render(w, r, a, http.StatusOK, "secret", view{Title: title, Page: pg})
}

// A client's settings.

type settingsPage struct {
	Client   clientView
	IsSelf   bool
	Chart    chart
	Activity []activityView
	// AuditLog says the entries come from the audit log; without one the
	// page shows what the client record itself holds.
	AuditLog      bool
	ActivityError bool
}

type activityView struct {
	At     time.Time
	Action string
	Actor  string
	You    bool // the actor is the signed-in admin
	IP     string
	Denied bool
}

func (c *Console) handleSettings(w http.ResponseWriter, r *http.Request, a *request) {
	id := r.PathValue("id")
	cl, err := c.svc.GetClient(r.Context(), a.p, id)
	if err != nil {
		c.fail(w, r, a, err)
		return
	}
	usage, err := c.svc.TokenUsage(r.Context(), a.p, id)
	if err != nil {
		c.fail(w, r, a, err)
		return
	}
	pg := settingsPage{Client: toView(cl), IsSelf: a.isSelf(id), Chart: buildChart(usage)}
	pg.Activity, pg.AuditLog, pg.ActivityError = c.activityOf(r.Context(), a, cl)
	c.render(w, r, a, http.StatusOK, "settings", view{Title: displayName(cl), Page: pg})
}

// activityOf returns a client's recent audit entries, or, without an audit
// log, the events its record holds (created, last changed, last token).
func (c *Console) activityOf(ctx context.Context, a *request, cl gatehouse.Client) ([]activityView, bool, bool) {
	if c.activity != nil {
		es, _, err := c.activity.ListAudit(ctx, a.p, cl.ID, "", activityLimit)
		if err != nil {
			c.log.Warn("console: reading the audit log failed", "client", cl.ID, "err", err)
			return nil, true, true
		}
		out := make([]activityView, 0, len(es))
		for _, e := range es {
			out = append(out, activityView{At: e.Time, Action: actionLabel(e.Action), Actor: e.ActorID, You: a.isSelf(e.ActorID), IP: e.SourceIP, Denied: e.Outcome == gatehouse.OutcomeDenied})
		}
		return out, true, false
	}
	var out []activityView
	if !cl.LastAccessAt.IsZero() {
		out = append(out, activityView{At: cl.LastAccessAt, Action: "Latest token issued", Actor: cl.ID, You: a.isSelf(cl.ID), IP: cl.LastAccessFromIP})
	}
	if cl.UpdatedAt.After(cl.CreatedAt) {
		out = append(out, activityView{At: cl.UpdatedAt, Action: "Last changed (status or API key)"})
	}
	out = append(out, activityView{At: cl.CreatedAt, Action: "Created", Actor: cl.CreatedBy, You: a.isSelf(cl.CreatedBy)})
	return out, false, false
}

var actionLabels = map[string]string{
	service.ActionClientCreate:     "Created",
	service.ActionClientUpdate:     "Updated",
	service.ActionClientDisable:    "Disabled",
	service.ActionClientEnable:     "Enabled",
	service.ActionClientRegenerate: "API key regenerated",
	service.ActionClientDelete:     "Deleted",
	service.ActionTokenRevoke:      "Token revoked",
}

func actionLabel(a string) string {
	if l, ok := actionLabels[a]; ok {
		return l
	}
	return a
}

// Regenerating the API key.

type confirmPage struct {
	Client clientView
	IsSelf bool
}

func (c *Console) handleRegenerateConfirm(w http.ResponseWriter, r *http.Request, a *request) {
	c.confirm(w, r, a, "regenerate", "Regenerate API key")
}

func (c *Console) handleDeleteConfirm(w http.ResponseWriter, r *http.Request, a *request) {
	c.confirm(w, r, a, "delete", "Delete API client")
}

func (c *Console) confirm(w http.ResponseWriter, r *http.Request, a *request, name, title string) {
	id := r.PathValue("id")
	cl, err := c.svc.GetClient(r.Context(), a.p, id)
	if err != nil {
		c.fail(w, r, a, err)
		return
	}
	c.render(w, r, a, http.StatusOK, name, view{Title: title, Page: confirmPage{Client: toView(cl), IsSelf: a.isSelf(id)}})
}

func (c *Console) handleRegenerate(w http.ResponseWriter, r *http.Request, a *request) {
	id := r.PathValue("id")
	secret, err := c.svc.RegenerateSecret(r.Context(), a.p, id)
	if err != nil {
		c.fail(w, r, a, err)
		return
	}
	if a.isSelf(id) {
		// The session's generation is now stale, so it is over; the new
		// secret is shown in this very response, since there is no session
		// left to carry it across a redirect.
		c.sessions.delete(a.sess.id)
		c.setCookie(w, r, sessionCookie, "", cookiePath, -1)
		c.renderSecret(w, r, nil, a.p.Client, secret, false)
		return
	}
	c.redirectToSecret(w, r, a, id, secret, false)
}

// Enabling, disabling and deleting.

func (c *Console) handleStatus(w http.ResponseWriter, r *http.Request, a *request) {
	id := r.PathValue("id")
	status := gatehouse.ClientStatus(r.PostForm.Get("status"))
	cl, err := c.svc.UpdateClient(r.Context(), a.p, id, service.ClientUpdate{Status: &status})
	if err != nil {
		c.fail(w, r, a, err)
		return
	}
	if a.isSelf(id) && status == gatehouse.StatusDisabled {
		c.endSession(w, r, a.sess.id, reasonDisabledSelf)
		return
	}
	notice := displayName(cl) + " is enabled: it can get tokens again. Tokens issued before it was disabled stay revoked."
	if status == gatehouse.StatusDisabled {
		notice = displayName(cl) + " is disabled: every token issued to it has stopped working, and it cannot get new ones."
	}
	c.sessions.setNotice(a.sess.id, notice)
	http.Redirect(w, r, clientURL(id), http.StatusSeeOther)
}

func (c *Console) handleDelete(w http.ResponseWriter, r *http.Request, a *request) {
	id := r.PathValue("id")
	cl, err := c.svc.GetClient(r.Context(), a.p, id)
	if err != nil {
		c.fail(w, r, a, err)
		return
	}
	if err := c.svc.DeleteClient(r.Context(), a.p, id); err != nil {
		c.fail(w, r, a, err)
		return
	}
	if a.isSelf(id) {
		c.endSession(w, r, a.sess.id, reasonDeletedSelf)
		return
	}
	c.sessions.setNotice(a.sess.id, displayName(cl)+" was deleted; its tokens have stopped working.")
	http.Redirect(w, r, Prefix+"clients", http.StatusSeeOther)
}

// Errors.

// fail renders a service error as a page. Only a *gatehouse.Error's
// message reaches the browser; anything else is logged and answered
// generically.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, a *request, err error) {
	var ge *gatehouse.Error
	switch {
	case errors.Is(err, gatehouse.ErrUnavailable):
		c.log.Error("console: store unavailable", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		c.renderError(w, r, a, http.StatusServiceUnavailable, "The service is temporarily unavailable. Try again in a moment.")
	case errors.As(err, &ge):
		c.renderError(w, r, a, apierr.Status(err), ge.Message)
	default:
		c.log.Error("console: internal error", "path", r.URL.Path, "err", err)
		c.renderError(w, r, a, http.StatusInternalServerError, "Internal error.")
	}
}

type errorPage struct {
	Status  int
	Message string
}

func (c *Console) renderError(w http.ResponseWriter, r *http.Request, a *request, status int, msg string) {
	c.render(w, r, a, status, "error", view{Title: http.StatusText(status), Page: errorPage{Status: status, Message: msg}})
}
