package console

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// view is what the layout renders around every page.
type view struct {
	Title string
	// Nav marks the current navigation entry (aria-current).
	Nav    string
	CSRF   string
	Admin  *adminView // nil when nobody is signed in
	Notice string
	CSS    string
	JS     string
	Icon   string
	DC     dcView
	Page   any
}

type adminView struct {
	ID   string
	Name string
}

type dcView struct {
	ID  string
	URL string
}

// clientView is a client as the pages show it.
type clientView struct {
	ID           string
	Name         string
	URL          string
	TenantID     string
	AuthMethod   string
	Admin        bool
	Enabled      bool
	Status       string
	Created      time.Time
	CreatedBy    string
	Updated      time.Time
	LastAccess   time.Time
	LastAccessIP string
}

func toView(c gatehouse.Client) clientView {
	return clientView{
		ID:           c.ID,
		Name:         displayName(c),
		URL:          clientURL(c.ID),
		TenantID:     c.TenantID,
		AuthMethod:   string(c.AuthMethod),
		Admin:        c.Role == gatehouse.RoleTenantAdmin,
		Enabled:      c.Status == gatehouse.StatusEnabled,
		Status:       string(c.Status),
		Created:      c.CreatedAt,
		CreatedBy:    c.CreatedBy,
		Updated:      c.UpdatedAt,
		LastAccess:   c.LastAccessAt,
		LastAccessIP: c.LastAccessFromIP,
	}
}

// displayName is a client's name, or its id when it has none.
func displayName(c gatehouse.Client) string {
	if n := c.Name(); n != "" {
		return n
	}
	return c.ID
}

// clientURL is the settings page of a client. Ids are URL-unreserved
// anyway; escaping keeps any other id from breaking out of the path.
func clientURL(id string) string { return Prefix + "clients/" + url.PathEscape(id) }

// secretURL is the page that shows a client's new secret once, to the
// session holding revealID.
func secretURL(id, revealID string) string {
	return clientURL(id) + "/secret?" + url.Values{"reveal": {revealID}}.Encode()
}

// page is a parsed page template: the layout plus the page's "content".
type page struct{ t *template.Template }

var pageNames = []string{"signin", "clients", "new", "secret", "settings", "regenerate", "delete", "error"}

var funcs = template.FuncMap{
	// when formats a time for people: UTC, to the minute.
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	// iso is the machine-readable form for <time datetime>.
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}

func mustParsePages() map[string]*page {
	out := make(map[string]*page, len(pageNames))
	for _, name := range pageNames {
		t := template.Must(template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html"))
		out[name] = &page{t: t}
	}
	return out
}

// render executes a page into a buffer first, so that a template failure
// becomes a clean 500 rather than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, a *request, status int, name string, v view) {
	v.CSS, v.JS, v.Icon = c.assetURL("app.css"), c.assetURL("app.js"), c.assetURL("favicon.svg")
	v.DC = dcView{ID: c.svc.DatacenterID(), URL: c.dcURL}
	if a != nil {
		v.CSRF = a.sess.csrf
		v.Admin = &adminView{ID: a.p.Client.ID, Name: displayName(a.p.Client)}
		if v.Notice == "" {
			v.Notice = a.sess.notice
		}
	}
	var buf bytes.Buffer
	if err := c.pages[name].t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("console: rendering a page failed", "page", name, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
