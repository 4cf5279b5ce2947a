package console_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/console"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/service"
)

type creds struct{ id, secret string }

// dc is one data center on a loopback listener. By default it is exactly
// what `gatehouse serve` runs (internal/testdc assembles it); with
// a console config it mounts its own console in front, on the test's
// clock, for the tests of session expiry and cookie attributes.
type dc struct {
	t     *testing.T
	URL   string
	svc   *service.Service
	clock *testkit.Clock
	admin creds
	p     *service.Principal // the admin, to arrange state through the service
}

type dcOptions struct {
	// console, if set, mounts console.New(*console) at /console/ instead
	// of the server's own; Service, Now and an empty DatacenterURL are
	// filled in.
	console *console.Config
	// start, if set, is where the data center's clock starts (the keys and
	// clients are created then); default now.
	start time.Time
}

func newDC(t *testing.T, opt dcOptions) *dc {
	t.Helper()
	ctx := context.Background()
	admin := "console-admin-" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-")
	if len(admin) > 100 {
		admin = admin[:100]
	}
	td := testdc.Start(t, testdc.Options{AdminID: admin, ClockStart: opt.start, SyncInterval: time.Second})
	d := &dc{t: t, URL: td.URL, svc: td.Svc, clock: td.Clock, admin: creds{td.Admin.ID, td.Admin.Secret}}
	var err error
	if d.p, err = d.svc.AuthenticateAdmin(ctx, service.ClientCredentials{ClientID: d.admin.id, Secret: d.admin.secret, RemoteIP: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if opt.console != nil {
		cfg := *opt.console
		cfg.Service, cfg.Now, cfg.Logger = d.svc, d.clock.Now, slog.New(slog.DiscardHandler)
		if cfg.DatacenterURL == "" {
			cfg.DatacenterURL = d.URL
		}
		mux := http.NewServeMux()
		mux.Handle("/console/", console.New(cfg))
		mux.Handle("/", td.Handler())
		td.Serve(mux)
	}
	return d
}

// createClient creates a client through the service, as the admin.
func (d *dc) createClient(name string, role gatehouse.Role) (gatehouse.Client, creds) {
	d.t.Helper()
	data, _ := json.Marshal(map[string]string{"client_name": name})
	c, secret, err := d.svc.CreateClient(context.Background(), d.p, service.ClientSpec{Role: role, Data: data})
	if err != nil {
		d.t.Fatal(err)
	}
	return c, creds{c.ID, secret}
}

// tokenStatus asks the token endpoint for a token with HTTP Basic and
// returns the status and the token, if any.
func (d *dc) tokenStatus(c creds) (int, string) {
	d.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.URL+"/bc/idp/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.id)+":"+url.QueryEscape(c.secret))))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer res.Body.Close()
	var tr api.TokenResponse
	if res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(&tr); err != nil {
			d.t.Fatal(err)
		}
	}
	return res.StatusCode, tr.AccessToken
}

// apiStatus calls the account API with a bearer token and returns the
// status.
func (d *dc) apiStatus(path, bearer string) int {
	d.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// browser is a plain HTTP client that behaves like a browser on the
// console's own pages: it keeps cookies, sends Origin and Sec-Fetch-Site on
// its form posts, and does not follow redirects, so tests see them.
type browser struct {
	t   *testing.T
	d   *dc
	hc  *http.Client
	jar *cookiejar.Jar
}

func (d *dc) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: d.t, d: d, jar: jar, hc: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type page struct {
	status int
	header http.Header
	body   string
}

// location is the path a redirect points to.
func (p page) location() string { return p.header.Get("Location") }

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	res, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{res.StatusCode, res.Header, string(body)}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.d.URL+path, nil)
	return b.do(req)
}

// post sends a form as a same-origin browser form post would.
func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	return b.postWith(path, form, map[string]string{"Origin": b.d.URL, "Sec-Fetch-Site": "same-origin"})
}

func (b *browser) postWith(path string, form url.Values, headers map[string]string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.d.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return b.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the anti-forgery token of the forms on a page.
func (b *browser) csrf(p page) string {
	b.t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no csrf field on the page:\n%s", p.body)
	}
	return m[1]
}

// signIn signs in through the form and fails the test otherwise.
func (b *browser) signIn(c creds) {
	b.t.Helper()
	if p := b.trySignIn(c); p.status != http.StatusSeeOther || p.location() != "/console/clients" {
		b.t.Fatalf("sign-in as %s: %d %s\n%s", c.id, p.status, p.location(), p.body)
	}
}

func (b *browser) trySignIn(c creds) page {
	b.t.Helper()
	form := b.get("/console/signin")
	return b.post("/console/signin", url.Values{"csrf": {b.csrf(form)}, "client_id": {c.id}, "client_secret": {c.secret}})
}

// sessionCookie is the browser's current console session cookie value.
func (b *browser) sessionCookie() string {
	u, _ := url.Parse(b.d.URL + "/console/")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "gatehouse_console" {
			return c.Value
		}
	}
	return ""
}

// formToken reads a page that has a form and returns its token.
func (b *browser) formToken(path string) string {
	b.t.Helper()
	p := b.get(path)
	if p.status != http.StatusOK {
		b.t.Fatalf("GET %s: %d %s", path, p.status, p.location())
	}
	return b.csrf(p)
}

// serviceStatus is a status change for the service's UpdateClient.
func serviceStatus(s *gatehouse.ClientStatus) service.ClientUpdate {
	return service.ClientUpdate{Status: s}
}

// The service's audit log is what the console shows on a settings page;
// this breaks the build, rather than the page silently, if its signature
// drifts from the console's interface.
var _ console.ActivitySource = (*service.Service)(nil)
