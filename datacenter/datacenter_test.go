package datacenter_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/datacenter"
	"github.com/gatehouse-dev/gatehouse/service"
)

// running is a data center run by datacenter.Run in this process, exactly
// as gatehouse serve runs one.
type running struct {
	dc   *datacenter.DataCenter
	stop func() error // cancels Run and returns what it returned
}

func run(t *testing.T, cfg datacenter.Config) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *datacenter.DataCenter, 1)
	done := make(chan error, 1)
	cfg.OnReady = func(d *datacenter.DataCenter) { ready <- d }
	go func() { done <- datacenter.Run(ctx, cfg) }()
	select {
	case d := <-ready:
		r := &running{dc: d}
		var stopped bool
		var result error
		r.stop = func() error {
			if !stopped {
				cancel()
				result, stopped = <-done, true
			}
			return result
		}
		t.Cleanup(func() { r.stop() })
		return r
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("Run did not become ready")
	}
	return nil
}

func localConfig(dir string) datacenter.Config {
	cfg := datacenter.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	return cfg
}

// The real assembly, in process: Run listens, bootstraps an empty store
// into a 0600 credentials file, serves tokens that a client library no one
// here wrote can fetch, serves metrics, stops cleanly, and starts again on
// the same data with the same keys and the same admin.
func TestRunServesAndRestarts(t *testing.T) {
	dir := t.TempDir()
	first := run(t, localConfig(dir))
	url := first.dc.URL()
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("URL %q, want http:// and the listen address", url)
	}

	credsFile := filepath.Join(dir, datacenter.BootstrapFile)
	fi, err := os.Stat(credsFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", credsFile, fi.Mode().Perm())
	}
	b, err := os.ReadFile(credsFile)
	if err != nil {
		t.Fatal(err)
	}
	var cred service.BootstrapCredentials
	if err := json.Unmarshal(b, &cred); err != nil || cred.ClientID == "" || cred.ClientSecret == "" {
		t.Fatalf("credentials file %q: %v", b, err)
	}
	cc := clientcredentials.Config{ClientID: cred.ClientID, ClientSecret: cred.ClientSecret, TokenURL: url + "/bc/idp/token"}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	get := func(base, path, bearer string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := get(url, "/api/2/clients/"+cred.ClientID, tok.AccessToken); s != http.StatusOK {
		t.Errorf("API call with the token: %d", s)
	}
	if s := get(url, "/metrics", ""); s != http.StatusOK {
		t.Errorf("GET /metrics: %d", s)
	}
	if err := first.stop(); err != nil {
		t.Fatalf("Run returned %v after its context ended, want nil", err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("still serving after Run returned")
	}

	// The same data again, on a new port: the same master key opens the
	// same signing keys, so the earlier token (issued for the old URL) is
	// refused only for its issuer, and the same admin fetches a new one.
	second := run(t, localConfig(dir))
	if s := get(second.dc.URL(), "/api/2/clients", tok.AccessToken); s != http.StatusUnauthorized {
		t.Errorf("a token of the old URL at the new one: %d, want 401", s)
	}
	cc.TokenURL = second.dc.URL() + "/bc/idp/token"
	tok2, err := cc.Token(context.Background())
	if err != nil {
		t.Fatalf("the bootstrap admin after a restart: %v", err)
	}
	if s := get(second.dc.URL(), "/api/2/clients/"+cred.ClientID, tok2.AccessToken); s != http.StatusOK {
		t.Errorf("API call after a restart: %d", s)
	}
	if after, _ := os.ReadFile(credsFile); string(after) != string(b) {
		t.Error("a restart rewrote the bootstrap credentials")
	}
}

// A configuration that cannot work is refused before anything is written.
func TestRunRefusesBadConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	for _, tc := range []struct {
		name   string
		change func(*datacenter.Config)
		want   string
	}{
		{"zero token TTL", func(c *datacenter.Config) { c.TokenTTL = 0 }, "--token-ttl"},
		{"negative leeway", func(c *datacenter.Config) { c.Leeway = -time.Second }, "--leeway"},
		{"unknown algorithm", func(c *datacenter.Config) { c.SigningAlgorithm = "HS256" }, "--signing-alg"},
		{"negative rotation period", func(c *datacenter.Config) { c.KeyRotationPeriod = -time.Hour }, "--key-rotation-period"},
		{"rotation period of seconds", func(c *datacenter.Config) { c.KeyRotationPeriod = time.Second }, "--key-rotation-period"},
		{"token TTL of a nanosecond", func(c *datacenter.Config) { c.TokenTTL = time.Nanosecond }, "--token-ttl"},
		{"token TTL with a fraction of a second", func(c *datacenter.Config) { c.TokenTTL = 1500 * time.Millisecond }, "--token-ttl"},
		{"token TTL over a day", func(c *datacenter.Config) { c.TokenTTL = 25 * time.Hour }, "--token-ttl"},
		{"leeway over five minutes", func(c *datacenter.Config) { c.Leeway = 6 * time.Minute }, "--leeway"},
		{"every IPv4 address a proxy", func(c *datacenter.Config) { c.TrustedProxies = "10.0.0.1,0.0.0.0/0" }, "--trusted-proxies"},
		{"every IPv6 address a proxy", func(c *datacenter.Config) { c.TrustedProxies = "::/0" }, "--trusted-proxies"},
		{"no failure limit", func(c *datacenter.Config) { c.AuthFailureLimit = -1 }, "--auth-failure-limit"},
		{"bad proxy", func(c *datacenter.Config) { c.TrustedProxies = "not-an-address" }, "--trusted-proxies"},
		{"not a database URL", func(c *datacenter.Config) { c.Database = "mysql://x" }, "--database"},
		{"weak chosen admin", func(c *datacenter.Config) {
			c.Bootstrap = &service.BootstrapCredentials{ClientID: "admin", ClientSecret: "short"}
		}, "bootstrap credentials refused"},
		{"own id as a peer", func(c *datacenter.Config) {
			c.ID, c.Peers = "eu8", []gatehouse.Datacenter{{ID: "eu8", URL: "https://other.test"}}
		}, "own id"},
		{"taken port", func(c *datacenter.Config) { c.Listen = taken }, "listen on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			cfg := localConfig(dir)
			tc.change(&cfg)
			err := datacenter.Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v, want an error naming %q", err, tc.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the data directory was created (%v)", err)
			}
		})
	}
}

// The bounds themselves are accepted.
func TestOpenAcceptsTheBounds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*datacenter.Config)
	}{
		{"one-second tokens", func(c *datacenter.Config) { c.TokenTTL = datacenter.MinTokenTTL }},
		{"one-day tokens", func(c *datacenter.Config) { c.TokenTTL = datacenter.MaxTokenTTL }},
		{"five minutes of leeway", func(c *datacenter.Config) { c.Leeway = datacenter.MaxLeeway }},
		{"no leeway", func(c *datacenter.Config) { c.Leeway = 0 }},
		{"hourly rotation", func(c *datacenter.Config) { c.KeyRotationPeriod = datacenter.MinKeyRotationPeriod }},
		{"no scheduled rotation", func(c *datacenter.Config) { c.KeyRotationPeriod = 0 }},
		{"a proxy network", func(c *datacenter.Config) { c.TrustedProxies = "10.0.0.0/8,fd00::/8" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := localConfig(t.TempDir())
			cfg.URL = "http://127.0.0.1:1"
			tc.change(&cfg)
			d, err := datacenter.Open(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if err := d.Close(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}
