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
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
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
	d := newDC(t, testdc.Options{})
	_, victim := d.CreateClient(api.CreateClientRequest{})
	cc := url.Values{"grant_type": {"client_credentials"}}

	for i := 0; i < 20; i++ {
		if r := d.PostForm("/bc/idp/token", cc, testkit.Basic(victim.ID, "guess-"+strconv.Itoa(i))); r.Status != 401 {
			t.Fatalf("guess %d: %d, want 401", i, r.Status)
		}
	}
	for name, auth := range map[string]string{
		"another guess":                  testkit.Basic(victim.ID, "guess-x"),
		"the right secret, same address": testkit.Basic(victim.ID, victim.Secret),
	} {
		r := d.PostForm("/bc/idp/token", cc, auth)
		var e api.OAuthError
		r.JSON(t, &e)
		ra, _ := strconv.Atoi(r.Header.Get("Retry-After"))
		if r.Status != 429 || e.Error == "" || ra < 1 || ra > 60 {
			t.Errorf("%s: %d Retry-After=%q %s", name, r.Status, r.Header.Get("Retry-After"), r.Body)
		}
	}
	for _, path := range []string{"/bc/idp/introspect_token", "/bc/idp/revoke_token"} {
		r := d.PostForm(path, url.Values{"token": {"x"}}, testkit.Basic(victim.ID, "guess-y"))
		if r.Status != 429 {
			t.Errorf("%s while limited: %d", path, r.Status)
		}
	}

	t.Run("the right secret from another address is never refused", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, d.URL+"/bc/idp/token", strings.NewReader(cc.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", testkit.Basic(victim.ID, victim.Secret))
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
		if r := d.PostForm("/bc/idp/token", cc, testkit.Basic(victim.ID, victim.Secret)); r.Status != 200 {
			t.Errorf("after the window: %d %s", r.Status, r.Body)
		}
	})
}
