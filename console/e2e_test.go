package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/service"
)

// chromiumPath is Debian's Chromium, which .ci/run installs. The test never
// lets chromedp look for, or download, a browser of its own.
const chromiumPath = "/usr/bin/chromium"

// docsScreenshots are the screenshots the README shows, refreshed with
// GATEHOUSE_UPDATE_SCREENSHOTS=1 (they change at every run: ids and secrets
// are random, so they are not rewritten unless asked).
var docsScreenshots = map[string]bool{
	"01-sign-in.png":       true,
	"02-clients.png":       true,
	"04-secret.png":        true,
	"05-settings.png":      true,
	"06-regenerate.png":    true,
	"10-clients-phone.png": true,
}

// TestConsoleInChromium drives the console in headless Chromium through
// the whole flow, and checks every effect at the token endpoint
// and the API over plain HTTP: sign in, create a client, read its secret,
// use it, regenerate, see the old secret fail and the new one work,
// disable, see its token rejected, delete, sign out, and see the old
// session cookie refused.
func TestConsoleInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("skipping the browser test: no Chromium at %s (install it with apt-get install chromium; with CI=true this is a failure)", chromiumPath)
		}
		t.Fatalf("CI is set but there is no Chromium at %s: %v", chromiumPath, err)
	}
	// The data center starts a day ago so that its tokens can be spread
	// over the chart's 24 hours (see simulateTraffic).
	d := newDC(t, dcOptions{start: time.Now().Add(-24 * time.Hour)})
	shots := newShots(t)

	// Some clients for the list to show: one in use, one disabled.
	ctx := context.Background()
	billing, billingCreds := d.createClient("Billing CyberApp", gatehouse.RoleNone)
	for range 3 {
		if status, _ := d.tokenStatus(billingCreds); status != http.StatusOK {
			t.Fatalf("token for %s: %d", billing.ID, status)
		}
	}
	d.createClient("Monitoring", gatehouse.RoleTenantAdmin)
	legacy, _ := d.createClient("Legacy importer", gatehouse.RoleNone)
	disabled := gatehouse.StatusDisabled
	if _, err := d.svc.UpdateClient(ctx, d.p, legacy.ID, serviceStatus(&disabled)); err != nil {
		t.Fatal(err)
	}

	bctx := startChromium(t)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	// submit clicks a button that navigates and waits for the new page.
	submit := func(sel string) {
		t.Helper()
		if _, err := chromedp.RunResponse(bctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatalf("click %s: %v", sel, err)
		}
	}
	path := func() string {
		t.Helper()
		loc, err := chromedp.Run(bctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(loc)
		return u.Path
	}

	// The console's CSP must not block its own stylesheet, script or icon,
	// and its script must not throw.
	problems := watchConsole(t, bctx)

	run("sign-in page", chromedp.EmulateViewport(1000, 760), chromedp.Navigate(d.URL+"/console"), chromedp.WaitVisible(chromedp.ID("client_id")))
	if p := path(); p != "/console/signin" {
		t.Fatalf("/console led to %s", p)
	}
	shots.take(bctx, "01-sign-in.png")
	run("fill in the sign-in form",
		chromedp.SendKeys(chromedp.ID("client_id"), d.admin.id),
		chromedp.SendKeys(chromedp.ID("client_secret"), d.admin.secret))
	submit(`form[action="/console/signin"] button[type=submit]`)
	if p := path(); p != "/console/clients" {
		t.Fatalf("after sign-in: %s", p)
	}
	run("clients list", chromedp.WaitVisible(chromedp.CSS("table.clients")), chromedp.WaitVisible(chromedp.CSS("button.copy")))
	shots.take(bctx, "02-clients.png")

	// Keyboard: the first Tab reaches the skip link.
	run("tab", chromedp.KeyEvent("\t"))
	if cls, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.activeElement.className`)); err != nil || cls != "skip" {
		t.Errorf("first Tab focuses %q (%v), want the skip link", cls, err)
	}

	// Create a client.
	submit(`a.button[href="/console/clients/new"]`)
	run("new client form", chromedp.WaitVisible(chromedp.ID("name")), chromedp.SendKeys(chromedp.ID("name"), "Inventory sync"))
	shots.take(bctx, "03-new-client.png")
	submit(`form[action="/console/clients"] button[type=submit]`)
	run("secret page", chromedp.WaitVisible(chromedp.ID("client-secret")), chromedp.WaitVisible(chromedp.CSS(`button[data-copy="client-secret"]`)))
	created := creds{text("#client-id"), text("#client-secret")}
	if !strings.HasSuffix(path(), "/secret") || created.id == "" || len(created.secret) < 43 {
		t.Fatalf("secret page %s: %+v", path(), created)
	}
	shots.take(bctx, "04-secret.png")
	// The copy button works (the script ran under the CSP); Chromium
	// grants the clipboard to the page through the permission set up in
	// startChromium.
	run("copy the secret", chromedp.Click(chromedp.CSS(`button[data-copy="client-secret"]`)))
	if got, err := chromedp.Run(bctx, chromedp.Poll[string](`(() => { const t = document.querySelector('button[data-copy="client-secret"]').textContent; return t === 'Copy' ? false : t })()`, chromedp.WithPollingTimeout(5*time.Second))); err != nil || (got != "Copied" && got != "Press Ctrl+C") {
		t.Errorf("copy button: %q, %v", got, err)
	}

	// The secret works at the token endpoint. A day of traffic, on the
	// data center's clock, gives the chart something to show.
	issued := simulateTraffic(t, d, created)
	status, token := d.tokenStatus(created)
	if status != http.StatusOK {
		t.Fatalf("token with the secret from the page: %d", status)
	}
	issued++
	self := "/api/2/clients/" + url.PathEscape(created.id)
	if s := d.apiStatus(self, token); s != http.StatusOK {
		t.Fatalf("API with its token: %d", s)
	}

	// Its settings page.
	submit(`a.button[href$="` + url.PathEscape(created.id) + `"]`)
	run("settings page", chromedp.WaitVisible(chromedp.CSS("figure.chart svg")))
	if text("h1") != "Inventory sync" {
		t.Errorf("settings heading %q", text("h1"))
	}
	// The chart shows what the service counted.
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]int](`[...document.querySelectorAll('details table td.num')].map(td => +td.textContent)`))
	if err != nil || len(rows) != service.UsageHours {
		t.Fatalf("chart table: %v, %v", rows, err)
	}
	var onPage int
	for _, n := range rows {
		onPage += n
	}
	if onPage != issued || issued == 0 {
		t.Errorf("the chart shows %d tokens, %d were issued", onPage, issued)
	}
	shots.take(bctx, "05-settings.png")

	// Regenerate: confirmation, then the new secret once.
	submit(`a[href$="/regenerate"]`)
	run("regenerate confirmation", chromedp.WaitVisible(chromedp.CSS(`form[action$="/regenerate"]`)))
	if !strings.Contains(text("main"), "stop working at once") {
		t.Error("the confirmation does not say the old secret and tokens stop working")
	}
	shots.take(bctx, "06-regenerate.png")
	submit(`form[action$="/regenerate"] button[type=submit]`)
	run("new secret", chromedp.WaitVisible(chromedp.ID("client-secret")))
	regenerated := creds{created.id, text("#client-secret")}
	if regenerated.secret == created.secret || len(regenerated.secret) < 43 {
		t.Fatalf("regenerated secret %q", regenerated.secret)
	}
	shots.take(bctx, "07-regenerated.png")
	if s, _ := d.tokenStatus(created); s != http.StatusUnauthorized {
		t.Errorf("old secret after regeneration: %d, want 401", s)
	}
	if s := d.apiStatus(self, token); s != http.StatusUnauthorized {
		t.Errorf("token of the old secret after regeneration: %d, want 401", s)
	}
	status, token = d.tokenStatus(regenerated)
	if status != http.StatusOK {
		t.Fatalf("new secret: %d", status)
	}
	if s := d.apiStatus(self, token); s != http.StatusOK {
		t.Fatalf("token of the new secret: %d", s)
	}

	// Disable: its token is rejected at once, and it gets no new one.
	submit(`a.button[href$="` + url.PathEscape(created.id) + `"]`)
	submit(`form[action$="/status"] button[type=submit]`)
	run("disabled", chromedp.WaitVisible(chromedp.CSS(".badge.disabled")), chromedp.WaitVisible(chromedp.CSS("p.notice")))
	shots.take(bctx, "08-disabled.png")
	if s := d.apiStatus(self, token); s != http.StatusUnauthorized {
		t.Errorf("token of a disabled client: %d, want 401", s)
	}
	if s, _ := d.tokenStatus(regenerated); s != http.StatusUnauthorized {
		t.Errorf("secret of a disabled client: %d, want 401", s)
	}

	// Delete, with its confirmation.
	submit(`a[href$="/delete"]`)
	run("delete confirmation", chromedp.WaitVisible(chromedp.CSS(`form[action$="/delete"]`)))
	shots.take(bctx, "09-delete.png")
	submit(`form[action$="/delete"] button[type=submit]`)
	if p := path(); p != "/console/clients" || !strings.Contains(text("p.notice"), "was deleted") {
		t.Errorf("after delete: %s", p)
	}
	if _, err := d.svc.GetClient(ctx, d.p, created.id); err == nil {
		t.Error("the client still exists")
	}

	// A phone-width screen: the list becomes cards, nothing overflows.
	run("phone width", chromedp.EmulateViewport(390, 844), chromedp.Navigate(d.URL+"/console/clients"), chromedp.WaitVisible(chromedp.CSS("table.clients")))
	if overflow, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`)); err != nil || overflow {
		t.Errorf("the list overflows a phone-width screen (%v)", err)
	}
	shots.take(bctx, "10-clients-phone.png")
	run("desktop width", chromedp.EmulateViewport(1000, 760))

	// Sign out; the old cookie is then worth nothing.
	cookies, err := chromedp.Call(bctx, network.GetCookies, network.GetCookiesParams{URLs: []string{d.URL + "/console/clients"}})
	if err != nil {
		t.Fatal(err)
	}
	session := ""
	for _, c := range cookies.Cookies {
		if c.Name == "gatehouse_console" {
			session = c.Value
			if !c.HTTPOnly || c.Path != "/console" || c.SameSite != network.CookieSameSiteStrict {
				t.Errorf("session cookie as the browser keeps it: %+v", c)
			}
		}
	}
	if session == "" {
		t.Fatal("the browser has no session cookie")
	}
	if stored, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.cookie + JSON.stringify(localStorage) + JSON.stringify(sessionStorage)`)); err != nil || strings.Contains(stored, session) || strings.Contains(stored, "eyJ") {
		t.Errorf("a credential is reachable from script or web storage: %q (%v)", stored, err)
	}
	submit(`form[action="/console/signout"] button[type=submit]`)
	if p := path(); p != "/console/signin" || !strings.Contains(text("p.notice"), "signed out") {
		t.Errorf("after sign-out: %s", p)
	}
	shots.take(bctx, "11-signed-out.png")
	req, _ := http.NewRequest(http.MethodGet, d.URL+"/console/clients", nil)
	req.AddCookie(&http.Cookie{Name: "gatehouse_console", Value: session})
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/console/signin") {
		t.Errorf("old session cookie after sign-out: %d %s", res.StatusCode, res.Header.Get("Location"))
	}

	for _, p := range problems() {
		t.Errorf("browser console: %s", p)
	}
}

// startChromium starts a fresh headless Chromium for the test, with its own
// profile directory, and returns the context of its first tab.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	profile, err := os.MkdirTemp("", "gatehouse-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // root in CI containers; the pages are our own
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(profile),
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), 90*time.Second)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelTimeout()
		// Chromium's helpers may still be writing for a moment after exit.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	// Let the pages use the clipboard, as a person's click would.
	if _, err := chromedp.CallBrowser(bctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission: &cdpbrowser.PermissionDescriptor{Name: "clipboard-write"},
		Setting:    cdpbrowser.PermissionSettingGranted,
	}); err != nil {
		t.Logf("granting the clipboard: %v (the copy button will fall back to selecting)", err)
	}
	return bctx
}

// watchConsole collects what the browser reports that points at a broken
// page: exceptions, CSP refusals and failed loads.
func watchConsole(t *testing.T, ctx context.Context) func() []string {
	var mu sync.Mutex
	var problems []string
	done := make(chan struct{})
	messages := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			s := m.String()
			if m.IsException() || strings.Contains(s, "Content Security Policy") || strings.Contains(s, "Failed to load") || strings.Contains(s, "Refused") {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s %s", m.URL, s))
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		// Give messages in flight a moment to arrive.
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), problems...)
	}
}

// shots saves full-page PNG screenshots as test artifacts: in
// GATEHOUSE_ARTIFACTS_DIR if set, else in the test's artifact directory
// (kept by go test -artifacts). With GATEHOUSE_UPDATE_SCREENSHOTS=1 the
// README's ones are also copied to docs/screenshots.
type shots struct {
	t    *testing.T
	dir  string
	docs string
}

func newShots(t *testing.T) *shots {
	s := &shots{t: t, dir: os.Getenv("GATEHOUSE_ARTIFACTS_DIR")}
	if s.dir == "" {
		s.dir = t.ArtifactDir()
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("GATEHOUSE_UPDATE_SCREENSHOTS") == "1" {
		s.docs = filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(s.docs, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", s.dir)
	return s
}

func (s *shots) take(ctx context.Context, name string) {
	s.t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, name), png, 0o644); err != nil {
		s.t.Fatal(err)
	}
	if s.docs != "" && docsScreenshots[name] {
		if err := os.WriteFile(filepath.Join(s.docs, name), png, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
}

// simulateTraffic issues tokens to c hour by hour over the last day, on the
// data center's clock (started a day ago), leaves the clock at the real
// time, and returns how many it issued.
func simulateTraffic(t *testing.T, d *dc, c creds) int {
	t.Helper()
	perHour := []int{1, 0, 0, 1, 2, 4, 6, 9, 7, 8, 10, 12, 9, 7, 8, 6, 5, 4, 3, 2, 2, 1, 1}
	now := time.Now()
	defer d.clock.Set(now)
	n := 0
	for i, k := range perHour {
		d.clock.Set(now.Add(-time.Duration(len(perHour)-i) * time.Hour))
		for range k {
			if status, _ := d.tokenStatus(c); status != http.StatusOK {
				t.Fatalf("token: %d", status)
			}
			n++
		}
	}
	return n
}

func sumHours(hs []service.HourCount) (n int64) {
	for _, h := range hs {
		n += h.Count
	}
	return n
}
