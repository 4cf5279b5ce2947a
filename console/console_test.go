package console_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/console"
	"github.com/gatehouse-dev/gatehouse/service"
)

const wantCSP = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func checkSecurityHeaders(t *testing.T, what string, p page) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Security-Policy": wantCSP,
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := p.header.Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", what, k, got, want)
		}
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	d := newDC(t, dcOptions{})
	b := d.browser()
	signin := b.get("/console/signin")
	checkSecurityHeaders(t, "sign-in page", signin)
	if cc := signin.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("sign-in page Cache-Control %q", cc)
	}
	checkSecurityHeaders(t, "redirect to sign-in", b.get("/console/clients"))
	checkSecurityHeaders(t, "unknown page", b.get("/console/nope"))
	css := b.get("/console/static/app.css")
	checkSecurityHeaders(t, "stylesheet", css)
	if ct := css.header.Get("Content-Type"); ct != "text/css; charset=utf-8" {
		t.Errorf("stylesheet Content-Type %q", ct)
	}
	if js := b.get("/console/static/app.js"); js.status != http.StatusOK || js.header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("script: %d %q", js.status, js.header.Get("Content-Type"))
	}
	if p := b.get("/console/static/nope.js"); p.status != http.StatusNotFound {
		t.Errorf("unknown asset: %d", p.status)
	}

	b.signIn(d.admin)
	list := b.get("/console/clients")
	checkSecurityHeaders(t, "clients list", list)
	if cc := list.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("clients list Cache-Control %q", cc)
	}
	// No inline script or style for the policy to block.
	for _, bad := range []string{"<script>", "style=", " onclick=", "javascript:"} {
		if strings.Contains(list.body, bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	if p := b.get("/console"); p.status != http.StatusMovedPermanently || p.location() != "/console/" {
		t.Errorf("/console: %d %q", p.status, p.location())
	}
	if p := b.get("/console/"); p.status != http.StatusSeeOther || p.location() != "/console/clients" {
		t.Errorf("/console/: %d %q", p.status, p.location())
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	d := newDC(t, dcOptions{})
	b := d.browser()
	form := b.get("/console/signin")
	p := b.post("/console/signin", url.Values{"csrf": {b.csrf(form)}, "client_id": {d.admin.id}, "client_secret": {d.admin.secret}})
	var session *http.Cookie
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == "gatehouse_console" {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("no session cookie: %v", p.header["Set-Cookie"])
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/console" || session.Secure {
		t.Errorf("over plain HTTP: %+v, want HttpOnly, SameSite=Strict, Path=/console, not Secure", session)
	}
	if len(session.Value) < 43 {
		t.Errorf("session id %q carries under 256 bits", session.Value)
	}
	// The page holds no credential: neither the secret nor the session id.
	home := b.get("/console/clients")
	if strings.Contains(home.body, d.admin.secret) || strings.Contains(home.body, session.Value) {
		t.Error("a credential is on the page")
	}

	// Secure when the data center URL is https (TLS ends at a proxy) ...
	https := newDC(t, dcOptions{console: &console.Config{DatacenterURL: "https://dc.example.com"}})
	hb := https.browser()
	form = hb.get("/console/signin")
	if sc := form.header.Get("Set-Cookie"); !strings.Contains(sc, "; Secure") {
		t.Errorf("https data center URL: sign-in cookie %q is not Secure", sc)
	}
	// (The browser's Origin is the public URL, which is trusted.)
	p = hb.postWith("/console/signin", url.Values{"csrf": {hb.csrf(form)}, "client_id": {https.admin.id}, "client_secret": {https.admin.secret}},
		map[string]string{"Origin": "https://dc.example.com"})
	if sc := strings.Join(p.header.Values("Set-Cookie"), "\n"); p.status != http.StatusSeeOther || !strings.Contains(sc, "gatehouse_console=") || !strings.Contains(sc, "; Secure") {
		t.Errorf("https data center URL: %d, cookies %q", p.status, sc)
	}

	// ... and when the request itself came over TLS.
	c := console.New(console.Config{Service: d.svc, DatacenterURL: d.URL})
	req := httptest.NewRequest(http.MethodGet, "https://dc.test/console/signin", nil)
	req.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	if sc := rec.Header().Get("Set-Cookie"); !strings.Contains(sc, "; Secure") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") {
		t.Errorf("over TLS: %q", sc)
	}
}

func TestCSRFProtection(t *testing.T) {
	d := newDC(t, dcOptions{})
	b := d.browser()
	b.signIn(d.admin)
	token := b.formToken("/console/clients/new")
	count := func() int {
		cs, _, err := d.svc.ListClients(context.Background(), d.p, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}
	before := count()
	create := func(token string) url.Values {
		return url.Values{"csrf": {token}, "name": {"forged"}, "auth_method": {"client_secret_basic"}, "admin": {"1"}}
	}
	for _, tc := range []struct {
		name    string
		form    url.Values
		headers map[string]string
	}{
		{"no token", create(""), map[string]string{"Sec-Fetch-Site": "same-origin"}},
		{"wrong token", create(otherToken(token)), map[string]string{"Sec-Fetch-Site": "same-origin"}},
		{"another session's token", create(func() string { o := d.browser(); o.signIn(d.admin); return o.formToken("/console/clients/new") }()), map[string]string{"Sec-Fetch-Site": "same-origin"}},
		{"cross-site with the right token", create(token), map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		{"same-site subdomain", create(token), map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"foreign Origin, old browser", create(token), map[string]string{"Origin": "https://evil.example"}},
	} {
		p := b.postWith("/console/clients", tc.form, tc.headers)
		if p.status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tc.name, p.status)
		}
		checkSecurityHeaders(t, tc.name, p)
	}
	if n := count(); n != before {
		t.Fatalf("%d clients created by refused posts", n-before)
	}
	// Sign-out is a POST too: without the token the session survives.
	if p := b.postWith("/console/signout", url.Values{}, nil); p.status != http.StatusForbidden {
		t.Errorf("sign-out without token: %d", p.status)
	}
	if p := b.get("/console/clients"); p.status != http.StatusOK {
		t.Errorf("session after a refused sign-out: %d", p.status)
	}
	// The sign-in form has its own token, in a cookie of its path.
	fresh := d.browser()
	if p := fresh.post("/console/signin", url.Values{"client_id": {d.admin.id}, "client_secret": {d.admin.secret}}); p.status != http.StatusForbidden || fresh.sessionCookie() != "" {
		t.Errorf("sign-in without the form's token: %d, session %q", p.status, fresh.sessionCookie())
	}
	// The right token, same origin: accepted.
	if p := b.post("/console/clients", create(token)); p.status != http.StatusSeeOther {
		t.Errorf("genuine post: %d %s", p.status, p.body)
	}
}

func TestSignInRefusals(t *testing.T) {
	d := newDC(t, dcOptions{})
	_, plain := d.createClient("not an admin", gatehouse.RoleNone)
	b := d.browser()
	p := b.trySignIn(plain)
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "not a tenant admin") || b.sessionCookie() != "" {
		t.Errorf("non-admin: %d, session %q\n%s", p.status, b.sessionCookie(), p.body)
	}
	p = b.trySignIn(creds{d.admin.id, "wrong"})
	if p.status != http.StatusUnauthorized || b.sessionCookie() != "" {
		t.Errorf("wrong secret: %d, session %q", p.status, b.sessionCookie())
	}
	// Failures go through the token endpoint's limiter (20 a minute).
	for i := 0; i < 25 && p.status != http.StatusTooManyRequests; i++ {
		p = b.trySignIn(creds{d.admin.id, "wrong"})
	}
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
		t.Fatalf("after many failures: %d, Retry-After %q", p.status, p.header.Get("Retry-After"))
	}
	if p := b.trySignIn(d.admin); p.status != http.StatusTooManyRequests {
		t.Errorf("right secret while limited: %d", p.status)
	}
	if status, _ := d.tokenStatus(d.admin); status != http.StatusTooManyRequests {
		t.Errorf("token endpoint after console failures from the same address: %d", status)
	}
}

func TestOutputIsEscaped(t *testing.T) {
	d := newDC(t, dcOptions{})
	b := d.browser()
	b.signIn(d.admin)
	const evil = `<script>alert(1)</script>"'><img src=x onerror=alert(2)>`
	p := b.post("/console/clients", url.Values{"csrf": {b.formToken("/console/clients/new")}, "name": {evil}, "auth_method": {"client_secret_basic"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", p.status, p.body)
	}
	secretPage := b.get(p.location())
	settingsURL := settingsOf(t, p.location())
	pages := map[string]page{
		"secret page": secretPage,
		"list":        b.get("/console/clients"),
		"search":      b.get("/console/clients?q=" + url.QueryEscape(evil)),
		"settings":    b.get(settingsURL),
		"regenerate":  b.get(settingsURL + "/regenerate"),
		"delete":      b.get(settingsURL + "/delete"),
	}
	for name, pg := range pages {
		if pg.status != http.StatusOK {
			t.Errorf("%s: %d", name, pg.status)
			continue
		}
		if strings.Contains(pg.body, "<script>alert") || strings.Contains(pg.body, "<img src=x") {
			t.Errorf("%s: the name is not escaped", name)
		}
		if !strings.Contains(pg.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: the escaped name is missing", name)
		}
	}
	// The sign-in form echoes the client id it was given, escaped.
	o := d.browser()
	p = o.trySignIn(creds{evil, "x"})
	if strings.Contains(p.body, "<script>alert") || !strings.Contains(p.body, "&lt;script&gt;") {
		t.Errorf("sign-in form echo is not escaped")
	}
	// Unknown reasons are never reflected.
	if p := o.get("/console/signin?reason=" + url.QueryEscape(evil)); strings.Contains(p.body, "alert") {
		t.Error("the reason parameter is reflected")
	}
}

func TestSessionExpiry(t *testing.T) {
	d := newDC(t, dcOptions{console: &console.Config{IdleTimeout: 30 * time.Minute, MaxLifetime: 2 * time.Hour}})
	b := d.browser()
	b.signIn(d.admin)

	// Use keeps a session alive ...
	for i := 0; i < 3; i++ {
		d.clock.Advance(29 * time.Minute)
		if p := b.get("/console/clients"); p.status != http.StatusOK {
			t.Fatalf("used every 29 minutes, after %d: %d %s", i+1, p.status, p.location())
		}
	}
	// ... until it is idle too long.
	d.clock.Advance(31 * time.Minute)
	if p := b.get("/console/clients"); p.status != http.StatusSeeOther || p.location() != "/console/signin?reason=expired" {
		t.Fatalf("idle 31 minutes: %d %q", p.status, p.location())
	}
	if b.sessionCookie() != "" {
		t.Error("the expired session's cookie was not removed")
	}
	// And however busy, no session outlives its maximum lifetime.
	b.signIn(d.admin)
	for elapsed := time.Duration(0); elapsed < 2*time.Hour-20*time.Minute; elapsed += 20 * time.Minute {
		d.clock.Advance(20 * time.Minute)
		if p := b.get("/console/clients"); p.status != http.StatusOK {
			t.Fatalf("busy session at %s: %d", elapsed+20*time.Minute, p.status)
		}
	}
	d.clock.Advance(20 * time.Minute)
	if p := b.get("/console/clients"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/console/signin") {
		t.Errorf("after the maximum lifetime: %d %q", p.status, p.location())
	}
}

func TestSignOutEndsTheSessionOnTheServer(t *testing.T) {
	d := newDC(t, dcOptions{})
	b := d.browser()
	b.signIn(d.admin)
	old := b.sessionCookie()
	p := b.post("/console/signout", url.Values{"csrf": {b.formToken("/console/clients")}})
	if p.status != http.StatusSeeOther || p.location() != "/console/signin?reason=signedout" {
		t.Fatalf("sign-out: %d %q", p.status, p.location())
	}
	// A copy of the old cookie is worth nothing now.
	replay := d.browser()
	u, _ := url.Parse(d.URL + "/console/")
	replay.jar.SetCookies(u, []*http.Cookie{{Name: "gatehouse_console", Value: old, Path: "/console"}})
	if p := replay.get("/console/clients"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/console/signin") {
		t.Errorf("old cookie after sign-out: %d %q", p.status, p.location())
	}
}

func TestSessionEndsWhenItsClientChanges(t *testing.T) {
	d := newDC(t, dcOptions{})
	other, otherCreds := d.createClient("second admin", gatehouse.RoleTenantAdmin)
	ctx := context.Background()
	signedIn := func() *browser {
		b := d.browser()
		b.signIn(otherCreds)
		return b
	}
	expectOut := func(b *browser, reason string) {
		t.Helper()
		p := b.get("/console/clients")
		if p.status != http.StatusSeeOther || p.location() != "/console/signin?reason="+reason {
			t.Errorf("want signed out for %s: %d %q", reason, p.status, p.location())
		}
	}

	b := signedIn()
	secret, err := d.svc.RegenerateSecret(ctx, d.p, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	otherCreds.secret = secret
	expectOut(b, gatehouse.CodeTokenRevoked)

	b = signedIn()
	disabled := gatehouse.StatusDisabled
	if _, err := d.svc.UpdateClient(ctx, d.p, other.ID, service.ClientUpdate{Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	expectOut(b, gatehouse.CodeClientDisabled)

	enabled := gatehouse.StatusEnabled
	if _, err := d.svc.UpdateClient(ctx, d.p, other.ID, service.ClientUpdate{Status: &enabled}); err != nil {
		t.Fatal(err)
	}
	b = signedIn()
	if err := d.svc.DeleteClient(ctx, d.p, other.ID); err != nil {
		t.Fatal(err)
	}
	expectOut(b, gatehouse.CodeClientNotFound)
}

func TestSecretIsShownOnce(t *testing.T) {
	d := newDC(t, dcOptions{})
	b := d.browser()
	b.signIn(d.admin)
	p := b.post("/console/clients", url.Values{"csrf": {b.formToken("/console/clients/new")}, "name": {"Once"}, "auth_method": {"client_secret_post"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("create: %d %q", p.status, p.location())
	}
	first := b.get(p.location())
	secret := secretField.FindStringSubmatch(first.body)
	if first.status != http.StatusOK || secret == nil {
		t.Fatalf("secret page: %d\n%s", first.status, first.body)
	}
	if cc := first.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("secret page Cache-Control %q", cc)
	}
	if !strings.Contains(first.body, "will not be shown again") {
		t.Error("no warning that the secret is shown once")
	}
	again := b.get(p.location())
	if again.status != http.StatusSeeOther || strings.Contains(again.body, secret[1]) {
		t.Fatalf("second visit: %d", again.status)
	}
	settings := b.get(again.location())
	if !strings.Contains(settings.body, "shown only once") || strings.Contains(settings.body, secret[1]) {
		t.Error("settings page after the second visit")
	}

	// The snippets are the seed's request for this data center, with the
	// client's own method (client_secret_post here); run the curl one when
	// curl is there, and parse the Python one when Python is.
	id := strings.TrimPrefix(settingsOf(t, p.location()), "/console/clients/")
	curl := htmlText(regexp.MustCompile(`(?s)<pre id="snippet-curl"[^>]*><code>(.*?)</code></pre>`).FindStringSubmatch(first.body))
	python := htmlText(regexp.MustCompile(`(?s)<pre id="snippet-python"[^>]*><code>(.*?)</code></pre>`).FindStringSubmatch(first.body))
	for _, want := range []string{d.URL + "/bc/idp/token", "client_id='" + id + "'", "client_secret='" + secret[1] + "'"} {
		if !strings.Contains(curl, want) {
			t.Errorf("curl snippet lacks %q:\n%s", want, curl)
		}
	}
	if !strings.Contains(python, "'client_secret': client_secret") || !strings.Contains(python, "datacenter_url = '"+d.URL+"'") {
		t.Errorf("python snippet:\n%s", python)
	}
	if path, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command("sh", "-c", strings.Replace(curl, "curl", path, 1)).Output()
		if err != nil || !strings.Contains(string(out), `"access_token"`) {
			t.Errorf("running the curl snippet: %v\n%s", err, out)
		}
	}
	if path, err := exec.LookPath("python3"); err == nil {
		cmd := exec.Command(path, "-c", "import ast, sys; ast.parse(sys.stdin.read())")
		cmd.Stdin = strings.NewReader(python)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("the Python snippet does not parse: %v\n%s", err, out)
		}
	}
}

// A new secret waits for the page its redirect names, not for the
// session's next request: another tab's page, a prefetch or an asset
// fetched first leaves it there. That page shows it to that session once,
// within a minute; nothing else ever does.
func TestSecretIsTiedToItsPage(t *testing.T) {
	d := newDC(t, dcOptions{console: &console.Config{}})
	b := d.browser()
	b.signIn(d.admin)
	create := func(name string) string {
		t.Helper()
		p := b.post("/console/clients", url.Values{"csrf": {b.formToken("/console/clients/new")}, "name": {name}, "auth_method": {"client_secret_basic"}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("create %s: %d %s", name, p.status, p.body)
		}
		settingsOf(t, p.location())
		return p.location()
	}
	// wantNoSecret: the secret page at location sends who to the settings
	// page of the client it names, showing no secret.
	wantNoSecret := func(who *browser, what, location string) {
		t.Helper()
		p := who.get(location)
		u, _ := url.Parse(location)
		if p.status != http.StatusSeeOther || p.location() != strings.TrimSuffix(u.Path, "/secret") || secretOn(p) != "" {
			t.Errorf("%s: %d %q, want the settings page and no secret", what, p.status, p.location())
		}
	}
	wantSecret := func(what, location string) string {
		t.Helper()
		p := b.get(location)
		secret := secretOn(p)
		if p.status != http.StatusOK || secret == "" {
			t.Fatalf("%s: %d %q, want the secret", what, p.status, p.location())
		}
		if strings.Contains(location, secret) {
			t.Errorf("the secret is in its page's URL %q", location)
		}
		return secret
	}

	// Two tabs create a client each; the session goes on in a third (the
	// list, a stylesheet, the icon) before either follows its redirect,
	// and the second one created is followed first.
	first, second := create("First tab"), create("Second tab")
	for _, path := range []string{"/console/clients", "/console/static/app.css", "/console/static/favicon.svg", "/console/clients/new"} {
		if p := b.get(path); p.status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, p.status)
		}
	}
	// Another session, another admin, with the redirect's very URL: nothing,
	// and the secret still waits for its own session.
	other := d.browser()
	other.signIn(d.admin)
	wantNoSecret(other, "another session", second)
	// The reveal id of one client's page names no secret on another's.
	firstID := strings.TrimPrefix(settingsOf(t, first), "/console/clients/")
	crossed := strings.Replace(second, url.PathEscape(strings.TrimPrefix(settingsOf(t, second), "/console/clients/")), url.PathEscape(firstID), 1)
	wantNoSecret(b, "the second's reveal id on the first's page", crossed)
	// Nor does a missing or made-up one.
	wantNoSecret(b, "no reveal id", settingsOf(t, first)+"/secret")
	wantNoSecret(b, "a made-up reveal id", settingsOf(t, first)+"/secret?reveal="+otherToken(strings.Repeat("A", 43)))

	s2 := wantSecret("the second tab's page", second)
	s1 := wantSecret("the first tab's page", first)
	if s1 == s2 {
		t.Fatal("both pages show one secret")
	}
	wantNoSecret(b, "the first page again", first)
	wantNoSecret(b, "the second page again", second)
	if status, _ := d.tokenStatus(creds{firstID, s1}); status != http.StatusOK {
		t.Errorf("the first tab's secret: token %d", status)
	}

	// A regenerated secret goes the same way.
	regen := settingsOf(t, first) + "/regenerate"
	p := b.post(regen, url.Values{"csrf": {b.formToken(regen)}})
	if p.status != http.StatusSeeOther || settingsOf(t, p.location()) != settingsOf(t, first) {
		t.Fatalf("regenerate: %d %q", p.status, p.location())
	}
	b.get("/console/clients")
	if s := wantSecret("the regenerated secret", p.location()); s == s1 {
		t.Error("regenerating showed the old secret")
	}

	// A page never fetched: its secret is gone a minute later.
	late := create("Never looked at")
	d.clock.Advance(time.Minute)
	wantNoSecret(b, "a page fetched a minute late", late)
}

func TestRegeneratingYourOwnKeySignsYouOut(t *testing.T) {
	d := newDC(t, dcOptions{})
	b := d.browser()
	b.signIn(d.admin)
	self := "/console/clients/" + url.PathEscape(d.admin.id)
	if p := b.get(self + "/regenerate"); !strings.Contains(p.body, "you will be signed out") {
		t.Error("the confirmation does not warn about signing out")
	}
	p := b.post(self+"/regenerate", url.Values{"csrf": {b.formToken(self + "/regenerate")}})
	secret := secretField.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || secret == nil || !strings.Contains(p.body, "you have been signed out") {
		t.Fatalf("regenerate own key: %d\n%s", p.status, p.body)
	}
	if b.sessionCookie() != "" {
		t.Error("the session cookie is still set")
	}
	if p := b.get("/console/clients"); p.status != http.StatusSeeOther {
		t.Errorf("after regenerating own key: %d", p.status)
	}
	if status, _ := d.tokenStatus(d.admin); status != http.StatusUnauthorized {
		t.Errorf("old secret: %d", status)
	}
	b.signIn(creds{d.admin.id, secret[1]})
}

func TestListAndSearch(t *testing.T) {
	d := newDC(t, dcOptions{})
	for i := 0; i < 55; i++ {
		d.createClient(fmt.Sprintf("batch %02d", i), gatehouse.RoleNone)
	}
	alpha, _ := d.createClient("Alpha service", gatehouse.RoleNone)
	d.createClient("alphabet soup", gatehouse.RoleTenantAdmin)
	b := d.browser()
	b.signIn(d.admin)

	rows := regexp.MustCompile(`<th scope="row"`)
	first := b.get("/console/clients")
	next := regexp.MustCompile(`href="(/console/clients\?after=[^"]+)" rel="next"`).FindStringSubmatch(first.body)
	if n := len(rows.FindAllString(first.body, -1)); n != 50 || next == nil {
		t.Fatalf("first page: %d rows, next %v", n, next)
	}
	second := b.get(htmlText(next))
	if n := len(rows.FindAllString(second.body, -1)); n != 58-50 || strings.Contains(second.body, `rel="next"`) {
		t.Errorf("second page: %d rows", n)
	}

	search := b.get("/console/clients?q=ALPHA")
	if n := len(rows.FindAllString(search.body, -1)); n != 2 || !strings.Contains(search.body, "Alpha service") || !strings.Contains(search.body, "alphabet soup") {
		t.Errorf("search by name: %d rows", n)
	}
	byID := b.get("/console/clients?q=" + alpha.ID[:13])
	if n := len(rows.FindAllString(byID.body, -1)); n != 1 || !strings.Contains(byID.body, alpha.ID) {
		t.Errorf("search by id: %d rows", n)
	}
	if none := b.get("/console/clients?q=nothing-matches"); !strings.Contains(none.body, "No API client whose name or id contains") {
		t.Error("empty search result")
	}
}

func TestNotFoundAndForeignIDs(t *testing.T) {
	d := newDC(t, dcOptions{})
	b := d.browser()
	b.signIn(d.admin)
	for _, path := range []string{"/console/clients/no-such-client", "/console/clients/no-such-client/regenerate"} {
		if p := b.get(path); p.status != http.StatusNotFound || !strings.Contains(p.body, "API client not found.") {
			t.Errorf("%s: %d", path, p.status)
		}
	}
	p := b.post("/console/clients/no-such-client/status", url.Values{"csrf": {b.formToken("/console/clients")}, "status": {"disabled"}})
	if p.status != http.StatusNotFound {
		t.Errorf("disable a missing client: %d", p.status)
	}
	p = b.post("/console/clients/"+url.PathEscape(d.admin.id)+"/status", url.Values{"csrf": {b.formToken("/console/clients")}, "status": {"paused"}})
	if p.status != http.StatusBadRequest {
		t.Errorf("an invalid status: %d", p.status)
	}
}

// settingsOf checks that a create or regenerate redirected to a client's
// secret page with a reveal id of 256 bits, and returns the client's
// settings page.
func settingsOf(t *testing.T, location string) string {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil || !strings.HasPrefix(u.Path, "/console/clients/") || !strings.HasSuffix(u.Path, "/secret") || len(u.Query().Get("reveal")) < 43 {
		t.Fatalf("not a secret page with its reveal id: %q", location)
	}
	return strings.TrimSuffix(u.Path, "/secret")
}

// secretOn is the secret a page shows, or "" when it shows none.
func secretOn(p page) string {
	if m := secretField.FindStringSubmatch(p.body); m != nil {
		return m[1]
	}
	return ""
}

var secretField = regexp.MustCompile(`id="client-secret" class="secret">([A-Za-z0-9_-]+)<`)

// htmlText undoes the escaping of a regexp match taken from a page.
func htmlText(m []string) string {
	if m == nil {
		return ""
	}
	r := strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&quot;", `"`)
	return r.Replace(m[1])
}

func TestDisablingOrDeletingYourOwnClientSignsYouOut(t *testing.T) {
	d := newDC(t, dcOptions{})
	me, meCreds := d.createClient("second admin", gatehouse.RoleTenantAdmin)
	self := "/console/clients/" + url.PathEscape(me.ID)

	b := d.browser()
	b.signIn(meCreds)
	if p := b.get(self); !strings.Contains(p.body, "This is the API client you are signed in with.") {
		t.Error("the settings page does not say it is your own client")
	}
	p := b.post(self+"/status", url.Values{"csrf": {b.formToken(self)}, "status": {"disabled"}})
	if p.status != http.StatusSeeOther || p.location() != "/console/signin?reason=disabled-self" || b.sessionCookie() != "" {
		t.Fatalf("disable yourself: %d %q, cookie %q", p.status, p.location(), b.sessionCookie())
	}
	if p := b.get(p.location()); !strings.Contains(p.body, "You disabled the API client you were signed in with") {
		t.Error("the sign-in page does not say why")
	}

	enabled := gatehouse.StatusEnabled
	if _, err := d.svc.UpdateClient(context.Background(), d.p, me.ID, serviceStatus(&enabled)); err != nil {
		t.Fatal(err)
	}
	b.signIn(meCreds)
	if p := b.get(self + "/delete"); !strings.Contains(p.body, "you will be signed out") {
		t.Error("the delete confirmation does not warn about signing out")
	}
	p = b.post(self+"/delete", url.Values{"csrf": {b.formToken(self + "/delete")}})
	if p.status != http.StatusSeeOther || p.location() != "/console/signin?reason=deleted-self" {
		t.Fatalf("delete yourself: %d %q", p.status, p.location())
	}
	if _, err := d.svc.GetClient(context.Background(), d.p, me.ID); err == nil {
		t.Error("the client still exists")
	}
}

// otherToken differs from tok in its first character, whatever that is.
func otherToken(tok string) string {
	if strings.HasPrefix(tok, "x") {
		return "y" + tok[1:]
	}
	return "x" + tok[1:]
}
