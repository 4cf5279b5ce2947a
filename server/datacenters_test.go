package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/datacenter"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// newCloud starts one data center per id, each knowing all the others as
// peers, as gatehouse dev runs them. Their URLs are known before any
// starts because each listener is opened first.
func newCloud(t *testing.T, ids ...string) map[string]*dc {
	t.Helper()
	prepared := make([]*testdc.DataCenter, len(ids))
	for i, id := range ids {
		prepared[i] = testdc.New(t, testdc.Options{DatacenterID: id, AdminID: "admin-" + id})
	}
	cloud := map[string]*dc{}
	for i, id := range ids {
		d := prepared[i]
		for j, other := range prepared {
			if j != i {
				d.Peers = append(d.Peers, gatehouse.Datacenter{ID: ids[j], URL: other.URL})
			}
		}
		d.Run()
		cloud[id] = &dc{d, t}
	}
	return cloud
}

type datacenterItem struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Issuer string `json:"issuer"`
	Self   bool   `json:"self"`
}

// Every data center lists the whole cloud alike, sorted by id, itself
// marked, to any authenticated client and to no one else.
func TestDatacenterDirectory(t *testing.T) {
	cloud := newCloud(t, "us5", "eu8", "ap2")
	for id, d := range cloud {
		r := d.Call(http.MethodGet, "/api/2/datacenters", d.AdminToken(), nil)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", id, r.Status, r.Body)
		}
		var list struct{ Items []datacenterItem }
		r.JSON(t, &list)
		var got []string
		for _, item := range list.Items {
			got = append(got, item.ID)
			want := cloud[item.ID]
			if want == nil || item.URL != want.URL || item.Issuer != want.URL+"/bc" || item.Self != (item.ID == id) {
				t.Errorf("%s lists %+v", id, item)
			}
		}
		if strings.Join(got, ",") != "ap2,eu8,us5" {
			t.Errorf("%s lists %v, want ap2,eu8,us5", id, got)
		}
	}

	// A client that is no admin reads it too: only public URLs are in it.
	eu := cloud["eu8"]
	_, app := eu.CreateClient(api.CreateClientRequest{})
	if r := eu.Call(http.MethodGet, "/api/2/datacenters", eu.Token(app).AccessToken, nil); r.Status != http.StatusOK {
		t.Errorf("as a plain client: %d %s", r.Status, r.Body)
	}
	r := eu.Call(http.MethodGet, "/api/2/datacenters", "", nil)
	if e := r.APIError(t); r.Status != http.StatusUnauthorized || e.Code != "bearerTokenMissing" {
		t.Errorf("without a token: %d %s", r.Status, r.Body)
	}
	if r := eu.Call(http.MethodPost, "/api/2/datacenters", eu.AdminToken(), nil); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d %s", r.Status, r.Body)
	}

	// A data center with no peers lists itself.
	alone := newDC(t, testdc.Options{})
	r = alone.Call(http.MethodGet, "/api/2/datacenters", alone.AdminToken(), nil)
	var list struct{ Items []datacenterItem }
	r.JSON(t, &list)
	if len(list.Items) != 1 || !list.Items[0].Self || list.Items[0].URL != alone.URL {
		t.Errorf("alone: %s", r.Body)
	}
	// The body's exact shape: these four members, in this order, no more.
	want := `{"items":[{"id":"test","url":"` + alone.URL + `","issuer":"` + alone.URL + `/bc","self":true}]}` + "\n"
	if string(r.Body) != want {
		t.Errorf("alone: body %s, want %s", r.Body, want)
	}
}

// A token from a known peer is refused with a message that names the data
// center it came from, so a developer sees at once that the app fetched
// its token in the wrong data center.
func TestPeerTokenNamesItsDatacenter(t *testing.T) {
	cloud := newCloud(t, "eu8", "us5")
	eu, us := cloud["eu8"], cloud["us5"]
	euTok := eu.AdminToken()
	for _, path := range []string{"/api/2/clients", "/api/2/datacenters"} {
		r := us.Call(http.MethodGet, path, euTok, nil)
		e := r.APIError(t)
		if r.Status != http.StatusUnauthorized || e.Code != "tokenIssuerMismatch" {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
		for _, want := range []string{"data center eu8", "(" + eu.URL + ")", "us5", "issuer " + us.URL + "/bc"} {
			if !strings.Contains(e.Message, want) {
				t.Errorf("%s: message %q does not contain %q", path, e.Message, want)
			}
		}
		if ch := r.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) || !strings.Contains(ch, "eu8") {
			t.Errorf("%s: challenge %q", path, ch)
		}
	}
	// The peer's token still works at home, and the check order is kept:
	// a malformed token is malformed, whoever its peers are.
	if r := eu.Call(http.MethodGet, "/api/2/clients/"+eu.Admin.ID, euTok, nil); r.Status != http.StatusOK {
		t.Errorf("at home: %d %s", r.Status, r.Body)
	}
	if r := us.Call(http.MethodGet, "/api/2/clients", "not-a-jwt", nil); r.APIError(t).Code != "tokenMalformed" {
		t.Errorf("malformed: %s", r.Body)
	}
}

// A token from a data center this one does not know keeps the verifier's
// message: its issuer is untrusted text, shown quoted and nothing more.
func TestUnknownIssuerMessageUnchanged(t *testing.T) {
	cloud := newCloud(t, "eu8", "us5")
	stranger := newDC(t, testdc.Options{})
	us := cloud["us5"]
	r := us.Call(http.MethodGet, "/api/2/clients", stranger.AdminToken(), nil)
	e := r.APIError(t)
	want := fmt.Sprintf("The token was issued by %q, not by this data center (issuer %s).", stranger.URL+"/bc", us.URL+"/bc")
	if r.Status != http.StatusUnauthorized || e.Code != "tokenIssuerMismatch" || e.Message != want {
		t.Errorf("got %d %q, want %q", r.Status, e.Message, want)
	}
}

// A data center refuses to start with a directory that would make its
// messages lie.
func TestPeerConfigurationRefused(t *testing.T) {
	self := "http://127.0.0.1:18080"
	for _, tc := range []struct {
		name  string
		peers []gatehouse.Datacenter
		want  string
	}{
		{"own URL", []gatehouse.Datacenter{{ID: "us5", URL: self + "/"}}, "own URL"},
		{"own id", []gatehouse.Datacenter{{ID: "eu8", URL: "http://127.0.0.1:18081"}}, "own id"},
		{"listed twice", []gatehouse.Datacenter{{ID: "us5", URL: "http://127.0.0.1:18081"}, {ID: "us5", URL: "http://127.0.0.1:18082"}}, "listed twice"},
		{"same URL", []gatehouse.Datacenter{{ID: "us5", URL: "http://127.0.0.1:18081"}, {ID: "ap2", URL: "http://127.0.0.1:18081"}}, "same URL"},
		{"not http", []gatehouse.Datacenter{{ID: "us5", URL: "ftp://127.0.0.1:18081"}}, "http or https"},
		{"query", []gatehouse.Datacenter{{ID: "us5", URL: "http://127.0.0.1:18081/?x=1"}}, "query"},
		{"bad id", []gatehouse.Datacenter{{ID: "us 5", URL: "http://127.0.0.1:18081"}}, "data center id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := datacenter.Defaults()
			cfg.ID, cfg.URL, cfg.DataDir, cfg.Peers, cfg.Sealer = "eu8", self, t.TempDir(), tc.peers, testkit.Sealer()
			_, err := datacenter.Open(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

type account struct {
	ServerURL    string `json:"server_url"`
	ID           *int64 `json:"id"`
	Login        string `json:"login"`
	DatacenterID string `json:"datacenter_id"`
}

func (d *dc) locate(login string) testkit.Response {
	d.t.Helper()
	return d.Call(http.MethodGet, "/api/1/accounts?login="+url.QueryEscape(login), "", nil)
}

// Each data center answers the locator route for its own clients, without
// authentication, in the platform's shape.
func TestLocateRoute(t *testing.T) {
	cloud := newCloud(t, "eu8", "us5")
	eu, us := cloud["eu8"], cloud["us5"]
	c, _ := eu.CreateClient(api.CreateClientRequest{})
	// A disabled client still lives here: its app is better told so by
	// its data center than told it exists nowhere.
	if r := eu.Call(http.MethodPut, "/api/2/clients/"+c.ClientID, eu.AdminToken(), map[string]string{"status": "disabled"}); r.Status != http.StatusOK {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	for _, login := range []string{eu.Admin.ID, c.ClientID} {
		r := eu.locate(login)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", login, r.Status, r.Body)
		}
		var a account
		r.JSON(t, &a)
		if a.ServerURL != eu.URL || a.ID == nil || *a.ID != 0 || a.Login != login || a.DatacenterID != "eu8" {
			t.Errorf("%s: %s", login, r.Body)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q", r.Header.Get("Cache-Control"))
		}
	}
	// Another data center's client is not here.
	r := us.locate(c.ClientID)
	if e := r.APIError(t); r.Status != http.StatusNotFound || e.Code != "notFound" || e.Domain != "AccountServer" {
		t.Errorf("another data center's client: %d %s", r.Status, r.Body)
	}
	// A deleted client no longer exists anywhere.
	if r := eu.Call(http.MethodDelete, "/api/2/clients/"+c.ClientID, eu.AdminToken(), nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := eu.locate(c.ClientID); r.Status != http.StatusNotFound {
		t.Errorf("deleted client: %d %s", r.Status, r.Body)
	}

	for name, path := range map[string]string{
		"no login":       "/api/1/accounts",
		"empty login":    "/api/1/accounts?login=",
		"repeated login": "/api/1/accounts?login=a&login=b",
	} {
		r := eu.Call(http.MethodGet, path, "", nil)
		if e := r.APIError(t); r.Status != http.StatusBadRequest || e.Code != "validationError" {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	if r := eu.Call(http.MethodPost, "/api/1/accounts?login=x", "", nil); r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET" {
		t.Errorf("POST: %d %s", r.Status, r.Body)
	}
}

// Lookups of unknown logins are limited per address like failed token
// requests, so enumerating client ids is slow; the count is the lookup's
// own, so that a locator, whose forwarded lookups miss in all data
// centers but one, does not lock its host out of the token endpoint.
func TestLocateRateLimit(t *testing.T) {
	d := newDC(t, testdc.Options{})
	for i := range 20 {
		if r := d.locate("nobody-" + strconv.Itoa(i)); r.Status != http.StatusNotFound {
			t.Fatalf("lookup %d: %d %s", i, r.Status, r.Body)
		}
	}
	for _, login := range []string{"nobody-x", d.Admin.ID} {
		r := d.locate(login)
		e := r.APIError(t)
		ra, _ := strconv.Atoi(r.Header.Get("Retry-After"))
		if r.Status != http.StatusTooManyRequests || e.Code != "tooManyRequests" || ra < 1 || ra > 60 {
			t.Errorf("%s past the limit: %d Retry-After=%q %s", login, r.Status, r.Header.Get("Retry-After"), r.Body)
		}
	}
	// Lookups of existing logins never count.
	d2 := newDC(t, testdc.Options{})
	for i := range 30 {
		if r := d2.locate(d2.Admin.ID); r.Status != http.StatusOK {
			t.Fatalf("known lookup %d: %d %s", i, r.Status, r.Body)
		}
	}

	t.Run("the token endpoint is not affected", func(t *testing.T) {
		d.Token(d.Admin)
	})
	t.Run("another address is not limited", func(t *testing.T) {
		res, err := clientFrom("127.0.0.2").Get(d.URL + "/api/1/accounts?login=" + url.QueryEscape(d.Admin.ID))
		if err != nil {
			t.Skipf("cannot send from 127.0.0.2 here: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("status %d", res.StatusCode)
		}
	})
	t.Run("the window slides", func(t *testing.T) {
		d.Clock.Advance(2 * time.Minute)
		defer d.Clock.Advance(-2 * time.Minute)
		if r := d.locate(d.Admin.ID); r.Status != http.StatusOK {
			t.Errorf("after the window: %d %s", r.Status, r.Body)
		}
	})
}
