package locator_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/httpedge"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/locator"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/service"
)

// dc is a real data center served in-process, as every package's tests
// start them.
type dc struct {
	id, url string
	svc     *service.Service
}

// startDC starts a data center whose bootstrap admin is adminID.
func startDC(t *testing.T, id, adminID string) *dc {
	t.Helper()
	d := testdc.Start(t, testdc.Options{DatacenterID: id, AdminID: adminID})
	return &dc{id: id, url: d.URL, svc: d.Svc}
}

func (d *dc) datacenter() gatehouse.Datacenter { return gatehouse.Datacenter{ID: d.id, URL: d.url} }

// fakeDC is a data center that answers the route with handler.
func fakeDC(t *testing.T, id string, handler http.HandlerFunc) gatehouse.Datacenter {
	t.Helper()
	hs := httptest.NewServer(handler)
	t.Cleanup(hs.Close)
	return gatehouse.Datacenter{ID: id, URL: hs.URL}
}

// deadDC is a URL nothing listens on any more.
func deadDC(t *testing.T, id string) gatehouse.Datacenter {
	t.Helper()
	hs := httptest.NewServer(http.NotFoundHandler())
	u := hs.URL
	hs.Close()
	return gatehouse.Datacenter{ID: id, URL: u}
}

// startLocator serves a locator over the data centers.
func startLocator(t *testing.T, cfg locator.Config) string {
	t.Helper()
	l, err := locator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(l)
	t.Cleanup(hs.Close)
	return hs.URL
}

// result is an answer of the locator, with its shapes' decoders.
type result struct{ testkit.Response }

func get(t *testing.T, u string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return result{testkit.Do(t, http.DefaultClient, req)}
}

func lookup(t *testing.T, base, login string) result {
	t.Helper()
	return get(t, base+"/api/1/accounts?login="+url.QueryEscape(login))
}

// account is the platform's shape, declared here rather than taken from
// the package under test, so that a wrong tag there is caught.
type account struct {
	ServerURL    string `json:"server_url"`
	ID           *int64 `json:"id"`
	Login        string `json:"login"`
	DatacenterID string `json:"datacenter_id"`
}

func (r result) account(t *testing.T) account {
	t.Helper()
	var a account
	r.JSON(t, &a)
	return a
}

func (r result) code(t *testing.T) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Domain string }
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Error.Domain != "AccountServer" {
		t.Fatalf("body %q is not the account API's error (%v)", r.Body, err)
	}
	return e.Error.Code
}

// The locator finds each client in the data center that holds it, in the
// platform's shape plus the data center's id, and answers 404 for a login
// no data center knows.
func TestLocateAcrossTwoDatacenters(t *testing.T) {
	eu, us := startDC(t, "eu8", "eu-admin"), startDC(t, "us5", "us-admin")
	loc := startLocator(t, locator.Config{Datacenters: []gatehouse.Datacenter{eu.datacenter(), us.datacenter()}})

	for login, want := range map[string]*dc{"eu-admin": eu, "us-admin": us} {
		r := lookup(t, loc, login)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", login, r.Status, r.Body)
		}
		a := r.account(t)
		if a.ServerURL != want.url || a.ID == nil || *a.ID != 0 || a.Login != login || a.DatacenterID != want.id {
			t.Errorf("%s: %s, want %s at %s", login, r.Body, want.id, want.url)
		}
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
		}
	}
	r := lookup(t, loc, "nobody")
	if r.Status != http.StatusNotFound || r.code(t) != "notFound" {
		t.Errorf("unknown login: %d %s", r.Status, r.Body)
	}
	if r := get(t, loc+"/api/1/accounts"); r.Status != http.StatusBadRequest || r.code(t) != "validationError" {
		t.Errorf("no login: %d %s", r.Status, r.Body)
	}
	if r := get(t, loc+"/healthz"); r.Status != http.StatusOK {
		t.Errorf("healthz: %d %s", r.Status, r.Body)
	}
	res, err := http.Post(loc+"/api/1/accounts?login=x", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", res.StatusCode)
	}
}

// When two data centers know the same login (operators may choose the
// same bootstrap id everywhere), the first listed answers, whichever is
// faster: the answer does not depend on timing.
func TestFirstListedWins(t *testing.T) {
	eu, us := startDC(t, "eu8", "same-admin"), startDC(t, "us5", "same-admin")
	for _, order := range [][]*dc{{eu, us}, {us, eu}} {
		loc := startLocator(t, locator.Config{Datacenters: []gatehouse.Datacenter{order[0].datacenter(), order[1].datacenter()}})
		for range 5 {
			if a := lookup(t, loc, "same-admin").account(t); a.DatacenterID != order[0].id {
				t.Fatalf("order %s,%s: answered %s", order[0].id, order[1].id, a.DatacenterID)
			}
		}
	}
}

// A data center that cannot be asked makes "not found" unknowable: 503
// (or 502 for answers that are not the route's), never a 404 that may be
// wrong. A login found elsewhere is still answered.
func TestUnreachableDatacenters(t *testing.T) {
	eu := startDC(t, "eu8", "eu-admin")
	slow := fakeDC(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	busy := fakeDC(t, "busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	proxy404 := fakeDC(t, "proxy", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "404 page not found", http.StatusNotFound)
	})
	huge := fakeDC(t, "huge", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"login":"` + strings.Repeat("x", 100<<10) + `"}`))
	})
	liar := fakeDC(t, "liar", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"server_url":"http://elsewhere","id":0,"login":"someone-else"}`))
	})
	dead := deadDC(t, "dead")
	const timeout = 300 * time.Millisecond

	for _, tc := range []struct {
		name      string
		dcs       []gatehouse.Datacenter
		login     string
		status    int
		code      string
		retryAtLe int // Retry-After at least
	}{
		{"dead, unknown login", []gatehouse.Datacenter{eu.datacenter(), dead}, "nobody", 503, "serviceUnavailable", 1},
		{"dead, known login", []gatehouse.Datacenter{dead, eu.datacenter()}, "eu-admin", 200, "", 0},
		{"slow, unknown login", []gatehouse.Datacenter{slow, eu.datacenter()}, "nobody", 503, "serviceUnavailable", 1},
		{"slow listed first, known login", []gatehouse.Datacenter{slow, eu.datacenter()}, "eu-admin", 200, "", 0},
		{"busy", []gatehouse.Datacenter{busy, eu.datacenter()}, "nobody", 503, "serviceUnavailable", 7},
		{"a 404 that is not the route's", []gatehouse.Datacenter{proxy404, eu.datacenter()}, "nobody", 502, "badGateway", 0},
		{"an oversized answer", []gatehouse.Datacenter{huge}, "nobody", 502, "badGateway", 0},
		{"an answer for another login", []gatehouse.Datacenter{liar}, "nobody", 502, "badGateway", 0},
		{"all dead", []gatehouse.Datacenter{dead}, "eu-admin", 503, "serviceUnavailable", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc := startLocator(t, locator.Config{Datacenters: tc.dcs, Timeout: timeout})
			start := time.Now()
			r := lookup(t, loc, tc.login)
			if r.Status != tc.status {
				t.Fatalf("%d %s, want %d", r.Status, r.Body, tc.status)
			}
			if tc.code != "" && r.code(t) != tc.code {
				t.Errorf("code of %s, want %s", r.Body, tc.code)
			}
			if tc.retryAtLe > 0 {
				if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < tc.retryAtLe {
					t.Errorf("Retry-After %q, want at least %d", r.Header.Get("Retry-After"), tc.retryAtLe)
				}
			}
			// No data center holds the answer past the timeout.
			if d := time.Since(start); d > timeout+2*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}

	t.Run("a slow data center listed after the one that knows does not delay", func(t *testing.T) {
		loc := startLocator(t, locator.Config{Datacenters: []gatehouse.Datacenter{eu.datacenter(), slow}, Timeout: 3 * time.Second})
		start := time.Now()
		if r := lookup(t, loc, "eu-admin"); r.Status != http.StatusOK {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %s: waited for the slow data center", d)
		}
	})
}

// Lookups of logins no data center knows are limited per caller address at
// the locator too; known logins never count.
func TestLocatorRateLimit(t *testing.T) {
	var asked atomic.Int32
	var forwardedFor atomic.Value
	nowhere := fakeDC(t, "nowhere", func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		forwardedFor.Store(r.Header.Get("X-Forwarded-For"))
		if r.URL.Query().Get("login") == "known" {
			w.Write([]byte(`{"server_url":"x","id":0,"login":"known","datacenter_id":"nowhere"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":{"code":"notFound","message":"No.","domain":"AccountServer"}}`))
	})
	loc := startLocator(t, locator.Config{Datacenters: []gatehouse.Datacenter{nowhere}})
	for range 30 {
		if r := lookup(t, loc, "known"); r.Status != http.StatusOK {
			t.Fatalf("known: %d %s", r.Status, r.Body)
		}
	}
	// The data center is told whom the lookup is for, so that one that
	// trusts the locator counts misses per caller.
	if got := forwardedFor.Load(); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want the caller's address", got)
	}
	for i := range 20 {
		if r := lookup(t, loc, "guess-"+strconv.Itoa(i)); r.Status != http.StatusNotFound {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
		}
	}
	before := asked.Load()
	for _, login := range []string{"guess-x", "known"} {
		r := lookup(t, loc, login)
		ra, _ := strconv.Atoi(r.Header.Get("Retry-After"))
		if r.Status != http.StatusTooManyRequests || r.code(t) != "tooManyRequests" || ra < 1 || ra > 60 {
			t.Errorf("%s past the limit: %d Retry-After=%q %s", login, r.Status, r.Header.Get("Retry-After"), r.Body)
		}
	}
	if n := asked.Load() - before; n != 0 {
		t.Errorf("the data center was asked %d times for a refused caller", n)
	}
}

func TestNewRefusesBadDirectories(t *testing.T) {
	for _, tc := range []struct {
		name string
		dcs  []gatehouse.Datacenter
		want string
	}{
		{"none", nil, "no data centers"},
		{"twice", []gatehouse.Datacenter{{ID: "eu8", URL: "http://a:1"}, {ID: "eu8", URL: "http://b:1"}}, "listed twice"},
		{"same URL", []gatehouse.Datacenter{{ID: "eu8", URL: "http://a:1"}, {ID: "us5", URL: "http://a:1/"}}, "same URL"},
		{"bad URL", []gatehouse.Datacenter{{ID: "eu8", URL: "a:1"}}, "http or https"},
		{"bad id", []gatehouse.Datacenter{{ID: "", URL: "http://a:1"}}, "id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := locator.New(locator.Config{Datacenters: tc.dcs}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// lookupAs asks the locator with an X-Forwarded-For header, as a proxy in
// front of it would.
func lookupAs(t *testing.T, base, login, forwardedFor string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/api/1/accounts?login="+url.QueryEscape(login), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", forwardedFor)
	return result{testkit.Do(t, http.DefaultClient, req)}
}

// Behind a trusted proxy the locator counts misses per real caller, and
// tells the data centers whom each lookup is for; a peer it does not
// trust is the caller, whatever X-Forwarded-For it sends.
func TestLocatorBehindTrustedProxies(t *testing.T) {
	const limit = 3
	var forwardedFor atomic.Value
	nowhere := fakeDC(t, "nowhere", func(w http.ResponseWriter, r *http.Request) {
		forwardedFor.Store(r.Header.Get("X-Forwarded-For"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":{"code":"notFound","message":"No.","domain":"AccountServer"}}`))
	})
	start := func(t *testing.T, trusted string) string {
		prefixes, err := httpedge.ParseTrustedProxies(trusted)
		if err != nil {
			t.Fatal(err)
		}
		return startLocator(t, locator.Config{
			Datacenters:    []gatehouse.Datacenter{nowhere},
			Limiter:        ratelimit.NewMemory(ratelimit.Config{Limit: limit, Window: time.Hour}),
			TrustedProxies: prefixes,
		})
	}

	t.Run("trusted proxy", func(t *testing.T) {
		loc := start(t, "127.0.0.1") // the tests' client is the proxy
		for i := range limit {
			if r := lookupAs(t, loc, "guess-"+strconv.Itoa(i), "198.51.100.1"); r.Status != http.StatusNotFound {
				t.Fatalf("miss %d: %d %s", i, r.Status, r.Body)
			}
			if got := forwardedFor.Load(); got != "198.51.100.1" {
				t.Fatalf("the data center was told X-Forwarded-For %q, want the caller behind the proxy", got)
			}
		}
		if r := lookupAs(t, loc, "guess-x", "198.51.100.1"); r.Status != http.StatusTooManyRequests {
			t.Errorf("caller past the limit: %d %s", r.Status, r.Body)
		}
		// Another caller behind the same proxy has misses of its own.
		if r := lookupAs(t, loc, "guess-y", "198.51.100.2"); r.Status != http.StatusNotFound {
			t.Errorf("another caller behind the proxy: %d %s, want 404", r.Status, r.Body)
		}
	})

	t.Run("untrusted peer", func(t *testing.T) {
		loc := start(t, "10.0.0.0/8") // not the tests' client
		for i := range limit {
			// A fresh forged address each time must not buy fresh misses.
			forged := "198.51.100." + strconv.Itoa(10+i)
			if r := lookupAs(t, loc, "guess-"+strconv.Itoa(i), forged); r.Status != http.StatusNotFound {
				t.Fatalf("miss %d: %d %s", i, r.Status, r.Body)
			}
			if got := forwardedFor.Load(); got != "127.0.0.1" {
				t.Fatalf("the data center was told X-Forwarded-For %q, want the peer's address", got)
			}
		}
		if r := lookupAs(t, loc, "guess-x", "198.51.100.99"); r.Status != http.StatusTooManyRequests {
			t.Errorf("peer past the limit with a forged header: %d %s", r.Status, r.Body)
		}
	})
}
