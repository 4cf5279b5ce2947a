package server_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/api"
)

// clientFrom returns an HTTP client whose connections come from ip, a
// loopback address other than 127.0.0.1.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}}
}

func TestBruteForceLimit(t *testing.T) {
	d := newDC(t, dcOptions{})
	_, victim := d.createClient(api.CreateClientRequest{})
	cc := url.Values{"grant_type": {"client_credentials"}}

	for i := 0; i < 20; i++ {
		if r := d.tokenRequest("/bc/idp/token", cc, basic(victim.id, "guess-"+strconv.Itoa(i))); r.Status != 401 {
			t.Fatalf("guess %d: %d, want 401", i, r.Status)
		}
	}
	for name, auth := range map[string]string{
		"another guess":                  basic(victim.id, "guess-x"),
		"the right secret, same address": basic(victim.id, victim.secret),
	} {
		r := d.tokenRequest("/bc/idp/token", cc, auth)
		var e api.OAuthError
		r.json(t, &e)
		ra, _ := strconv.Atoi(r.header.Get("Retry-After"))
		if r.Status != 429 || e.Error == "" || ra < 1 || ra > 60 {
			t.Errorf("%s: %d Retry-After=%q %s", name, r.Status, r.header.Get("Retry-After"), r.body)
		}
	}
	for _, path := range []string{"/bc/idp/introspect_token", "/bc/idp/revoke_token"} {
		r := d.tokenRequest(path, url.Values{"token": {"x"}}, basic(victim.id, "guess-y"))
		if r.Status != 429 {
			t.Errorf("%s while limited: %d", path, r.Status)
		}
	}

	t.Run("the right secret from another address is never refused", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, d.URL+"/bc/idp/token", strings.NewReader(cc.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", basic(victim.id, victim.secret))
		res, err := clientFrom("127.0.0.2").Do(req)
		if err != nil {
			t.Skipf("cannot send from 127.0.0.2 here: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("status %d", res.StatusCode)
		}
	})

	t.Run("the window slides", func(t *testing.T) {
		d.Clock.Advance(2 * time.Minute)
		defer d.Clock.Advance(-2 * time.Minute)
		if r := d.tokenRequest("/bc/idp/token", cc, basic(victim.id, victim.secret)); r.Status != 200 {
			t.Errorf("after the window: %d %s", r.Status, r.body)
		}
	})
}
