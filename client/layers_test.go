package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
)

// staticSource hands out one token and counts the calls.
type staticSource struct {
	tok   string
	calls atomic.Int64
}

func (s *staticSource) Token(context.Context) (*client.Token, error) {
	s.calls.Add(1)
	t := &client.Token{Issued: time.Now(), Expiry: time.Now().Add(time.Hour)}
	t.AccessToken = s.tok
	return t, nil
}

// A Transport built by hand sends the token to the data center's origin
// only: never to another host, another port or another scheme.
func TestTransportOriginOnly(t *testing.T) {
	var dcAuth, otherAuth atomic.Value
	dcAuth.Store("")
	otherAuth.Store("")
	dc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dcAuth.Store(r.Header.Get("Authorization"))
	}))
	defer dc.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherAuth.Store(r.Header.Get("Authorization"))
	}))
	defer other.Close()
	// The data center under another name is another origin, although the
	// request reaches the same server.
	otherName := strings.Replace(dc.URL, "127.0.0.1", "localhost", 1)

	for _, tc := range []struct {
		name       string
		datacenter string
		url        string
		wantDC     string // Authorization the data center saw
		wantOther  string // Authorization the other server saw
	}{
		{name: "data center", datacenter: dc.URL, url: dc.URL + "/api/2/clients", wantDC: "Bearer tok-1"},
		{name: "data center with a path in its URL", datacenter: dc.URL + "/base/", url: dc.URL + "/x", wantDC: "Bearer tok-1"},
		{name: "same host, another port", datacenter: dc.URL, url: other.URL + "/steal"},
		{name: "another host name", datacenter: dc.URL, url: otherName + "/steal"},
		{name: "another scheme", datacenter: strings.Replace(dc.URL, "http:", "https:", 1), url: dc.URL + "/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dcAuth.Store("")
			otherAuth.Store("")
			src := &staticSource{tok: "tok-1"}
			hc := &http.Client{Transport: &client.Transport{Source: src, Datacenter: tc.datacenter}}
			req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := dcAuth.Load(); got != tc.wantDC {
				t.Errorf("data center saw Authorization %q, want %q", got, tc.wantDC)
			}
			if got := otherAuth.Load(); got != tc.wantOther {
				t.Errorf("other server saw Authorization %q, want %q", got, tc.wantOther)
			}
			if req.Header.Get("Authorization") != "" {
				t.Error("the caller's request was modified")
			}
			if want := int64(0); tc.wantDC == "" && src.calls.Load() != want {
				t.Errorf("token source called %d times for a foreign origin, want 0", src.calls.Load())
			}
		})
	}
}

// A Transport that knows no data center refuses to send, rather than send
// everything without its token; given none, it takes its Source's.
func TestTransportNeedsAnOrigin(t *testing.T) {
	var auth atomic.Value
	auth.Store("")
	dc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
	}))
	defer dc.Close()
	for _, tc := range []struct {
		name       string
		datacenter string
	}{
		{"none", ""},
		{"not a URL", "eu8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc := &http.Client{Transport: &client.Transport{Source: &staticSource{tok: "tok-1"}, Datacenter: tc.datacenter}}
			if resp, err := hc.Get(dc.URL + "/x"); err == nil {
				resp.Body.Close()
				t.Fatalf("sent with status %d, want an error", resp.StatusCode)
			}
			if got := auth.Load(); got != "" {
				t.Errorf("the data center saw %q", got)
			}
		})
	}

	t.Run("the Source's data center", func(t *testing.T) {
		f, err := client.NewFetcher(client.Config{DatacenterURL: dc.URL, ClientID: "id", ClientSecret: "secret"})
		if err != nil {
			t.Fatal(err)
		}
		cache := client.NewCache(f, 0, nil)
		tr := &client.Transport{Source: cache}
		// The request to another origin goes out without a token, so the
		// source is never asked for one (there is no token endpoint here).
		other := strings.Replace(dc.URL, "127.0.0.1", "localhost", 1)
		resp, err := (&http.Client{Transport: tr}).Get(other + "/x")
		if err != nil {
			t.Fatalf("a request off the data center: %v", err)
		}
		resp.Body.Close()
		if got := auth.Load(); got != "" {
			t.Errorf("another origin saw %q", got)
		}
		if cache.DatacenterURL() != dc.URL {
			t.Errorf("the cache names %q, want the fetcher's %q", cache.DatacenterURL(), dc.URL)
		}
	})

	t.Run("the Source's data center gets the token", func(t *testing.T) {
		d := testdc.Start(t, testdc.Options{})
		f, err := client.NewFetcher(client.Config{DatacenterURL: d.URL, ClientID: d.Admin.ID, ClientSecret: d.Admin.Secret})
		if err != nil {
			t.Fatal(err)
		}
		hc := &http.Client{Transport: &client.Transport{Source: client.NewCache(f, 0, nil)}}
		resp, err := hc.Get(d.URL + "/api/2/clients/" + d.Admin.ID)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("the data center answered %d, want 200 for a request that carries the token", resp.StatusCode)
		}
	})
}

// The layers compose by hand as Client composes them: Fetcher, Cache over
// it, Transport over the cache, Accounts over the transport.
func TestLayersByHand(t *testing.T) {
	f := newFakeDC(t)
	fetcher, err := client.NewFetcher(client.Config{DatacenterURL: f.srv.URL, ClientID: f.id, ClientSecret: f.secret, HTTPClient: f.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	cache := client.NewCache(fetcher, 0, nil)
	hc := &http.Client{Transport: &client.Transport{Source: cache, Datacenter: f.srv.URL, Base: f.srv.Client().Transport}}
	accounts, err := client.NewAccounts(f.srv.URL, hc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		cl, err := accounts.Get(ctx, "abc")
		if err != nil || cl.ClientID != "abc" {
			t.Fatalf("Get = %+v, %v", cl, err)
		}
	}
	if n := f.tokenHits.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1: the cache is shared", n)
	}

	// A revoked token is dropped from the cache through the transport and
	// replaced once.
	f.revoke("token-1")
	if _, err := accounts.Get(ctx, "abc"); err != nil {
		t.Fatalf("Get after revocation: %v", err)
	}
	if tok, err := cache.Token(ctx); err != nil || tok.AccessToken != "token-2" {
		t.Errorf("cache after revocation holds %v, %v; want token-2", tok, err)
	}

	// Each Fetcher.Token is a new request.
	if tok, err := fetcher.Token(ctx); err != nil || tok.AccessToken != "token-3" {
		t.Errorf("Fetcher.Token = %v, %v; want token-3", tok, err)
	}
}

func TestNewAccountsValidates(t *testing.T) {
	for _, tc := range []struct {
		url string
		hc  *http.Client
	}{
		{"", http.DefaultClient},
		{"ftp://dc.example", http.DefaultClient},
		{"https://user:pw@dc.example", http.DefaultClient},
		{"https://dc.example?x=1", http.DefaultClient},
		{"https://dc.example", nil},
	} {
		if _, err := client.NewAccounts(tc.url, tc.hc); err == nil {
			t.Errorf("NewAccounts(%q, %v) succeeded, want an error", tc.url, tc.hc)
		}
	}
}

// A Cache asks its source once for concurrent callers and not again while
// the token is fresh, and never keeps a token the source failed to give.
func TestCacheOverAnySource(t *testing.T) {
	src := &staticSource{tok: "tok"}
	c := client.NewCache(src, time.Minute, nil)
	ctx := context.Background()
	for range 5 {
		if tok, err := c.Token(ctx); err != nil || tok.AccessToken != "tok" {
			t.Fatalf("Token = %v, %v", tok, err)
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Errorf("source called %d times, want 1", n)
	}
	c.Invalidate("another")
	c.Token(ctx)
	if n := src.calls.Load(); n != 1 {
		t.Errorf("Invalidate of another token dropped the cache: %d calls", n)
	}
	c.Invalidate("tok")
	c.Token(ctx)
	if n := src.calls.Load(); n != 2 {
		t.Errorf("after Invalidate: %d calls, want 2", n)
	}

	boom := errors.New("boom")
	fc := client.NewCache(failing{boom}, 0, nil)
	if _, err := fc.Token(ctx); !errors.Is(err, boom) {
		t.Errorf("err = %v, want the source's", err)
	}
}

type failing struct{ err error }

func (f failing) Token(context.Context) (*client.Token, error) { return nil, f.err }

// A Transport without a Source refuses to send rather than send the
// request without the token it was meant to carry.
func TestTransportWithoutSource(t *testing.T) {
	var hits atomic.Int64
	dc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer dc.Close()
	hc := &http.Client{Transport: &client.Transport{Datacenter: dc.URL}}
	if resp, err := hc.Get(dc.URL + "/api/2/clients"); err == nil {
		resp.Body.Close()
		t.Fatal("request without a Source succeeded")
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the data center received %d requests, want 0", n)
	}
}
