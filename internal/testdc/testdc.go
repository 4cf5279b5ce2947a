// Package testdc starts a whole data center in-process for tests, assembled
// by package datacenter exactly as gatehouse serve assembles one: a SQLite
// store in a temporary directory, a settable clock, the test master key, and
// the HTTP server on a real loopback listener. Every package that tests
// against a real data center shares it, and its request helpers (Token,
// Call, CreateClient, ...), rather than keeping a copy.
package testdc

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/datacenter"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/metrics"
	"github.com/gatehouse-dev/gatehouse/postgres/pgtest"
	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/token"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Backends are the stores a data center runs on in tests that cover both:
// a SQLite file (Database ""), and a fresh PostgreSQL schema, which skips
// the test unless GATEHOUSE_TEST_POSTGRES names a server.
var Backends = []struct {
	Name     string
	Database func(testing.TB) string
}{
	{"sqlite", func(testing.TB) string { return "" }},
	{"postgres", pgtest.NewSchema},
}

// Options configure a data center; zero values take defaults.
type Options struct {
	Dir string // the store's directory; a fresh temporary one if ""
	// Database is a postgres:// URL to run on (see postgres/pgtest.NewSchema);
	// "" for SQLite in Dir.
	Database     string
	AdminID      string                 // the bootstrap admin; derived from the test's name if ""
	AdminSecret  string                 // generated if ""
	DatacenterID string                 // "test" if ""
	Peers        []gatehouse.Datacenter // other data centers it knows (see DataCenter.Peers)
	ClockStart   time.Time              // what the clock reads first; now if zero
	// SigningAlgorithm is what the data center signs with: RS256 if "".
	SigningAlgorithm string
	// AccessFlushInterval (20ms) and SyncInterval (20ms) are short, so
	// lazily written state reaches the store quickly in tests.
	AccessFlushInterval time.Duration
	SyncInterval        time.Duration
	// AuthFailureLimit replaces gatehouse serve's limit of failed client
	// authentications, when set.
	AuthFailureLimit int
}

// DataCenter is one data center served over real HTTP.
type DataCenter struct {
	URL   string
	Svc   *service.Service
	Store gatehouse.Store
	Clock *testkit.Clock
	Logs  *testkit.SyncBuffer
	Admin Creds // the bootstrap admin

	// Peers are the other data centers it knows; settable between New and
	// Run, when every URL of a cloud is known.
	Peers []gatehouse.Datacenter
	// SigningAlgorithm is what it signs with from its next start on:
	// settable before Restart, as an operator changes --signing-alg.
	SigningAlgorithm string
	// Flushed counts the service's rounds of writing accesses and token
	// counts, Synced its periodic resyncs, across restarts: tests wait on
	// them for the background work instead of sleeping.
	Flushed, Synced *testkit.Events

	t   testing.TB
	opt Options
	hs  *httptest.Server
	dc  *datacenter.DataCenter
	// handler is swapped by Restart while the listener stays; front, when
	// set, serves in its place.
	handler atomic.Pointer[http.Handler]
	front   atomic.Pointer[http.Handler]

	storeTakenAway atomic.Bool
}

// Start starts a data center with a bootstrapped admin client; it stops
// when the test ends.
func Start(t testing.TB, opt Options) *DataCenter {
	t.Helper()
	d := New(t, opt)
	d.Run()
	return d
}

// New prepares a data center: its listener, so its URL, but nothing
// serving yet; Run starts it.
func New(t testing.TB, opt Options) *DataCenter {
	t.Helper()
	if opt.Dir == "" {
		opt.Dir = t.TempDir()
	}
	if opt.AdminID == "" {
		// Operator-chosen ids use URL-unreserved characters only; a
		// subtest's name may hold others.
		opt.AdminID = "admin-" + strings.Map(func(r rune) rune {
			if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._~-", r)) {
				return r
			}
			return '-'
		}, t.Name())
		if len(opt.AdminID) > 100 {
			opt.AdminID = opt.AdminID[:100]
		}
	}
	if opt.AdminSecret == "" {
		opt.AdminSecret = gatehouse.NewSecret()
	}
	if opt.DatacenterID == "" {
		opt.DatacenterID = "test"
	}
	if opt.ClockStart.IsZero() {
		opt.ClockStart = time.Now()
	}
	if opt.AccessFlushInterval == 0 {
		opt.AccessFlushInterval = 20 * time.Millisecond
	}
	if opt.SyncInterval == 0 {
		opt.SyncInterval = 20 * time.Millisecond
	}
	hs := httptest.NewUnstartedServer(nil)
	t.Cleanup(hs.Close)
	return &DataCenter{
		URL: "http://" + hs.Listener.Addr().String(), Clock: testkit.NewClock(opt.ClockStart), Logs: &testkit.SyncBuffer{},
		Admin: Creds{opt.AdminID, opt.AdminSecret}, Peers: opt.Peers, SigningAlgorithm: opt.SigningAlgorithm,
		Flushed: testkit.NewEvents(), Synced: testkit.NewEvents(),
		t: t, opt: opt, hs: hs,
	}
}

// Run starts the store, the service and the server; they stop when the
// test ends.
func (d *DataCenter) Run() {
	d.t.Helper()
	d.start()
	d.hs.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := d.front.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		(*d.handler.Load()).ServeHTTP(w, r)
	})
	d.hs.Start()
	d.t.Cleanup(func() {
		d.hs.Close()
		d.stop()
	})
}

// start assembles the data center, as gatehouse serve does, behind the
// same URL.
func (d *DataCenter) start() {
	t := d.t
	t.Helper()
	cfg := datacenter.Defaults()
	cfg.ID, cfg.URL, cfg.DataDir, cfg.Peers = d.opt.DatacenterID, d.URL, d.opt.Dir, d.Peers
	cfg.Database = d.opt.Database
	cfg.SigningAlgorithm = d.SigningAlgorithm
	cfg.Sealer = testkit.Sealer()
	cfg.Bootstrap = &service.BootstrapCredentials{ClientID: d.Admin.ID, ClientSecret: d.Admin.Secret}
	cfg.Logger = slog.New(slog.NewTextHandler(d.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Now, cfg.Elapsed = d.Clock.Now, d.Clock.Elapsed
	cfg.AccessFlushInterval, cfg.SyncInterval = d.opt.AccessFlushInterval, d.opt.SyncInterval
	cfg.Hooks = service.Hooks{Flushed: func(error) { d.Flushed.Add() }, Synced: d.Synced.Add}
	if d.opt.AuthFailureLimit > 0 {
		cfg.AuthFailureLimit = d.opt.AuthFailureLimit
	}
	dc, err := datacenter.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.dc, d.Svc, d.Store = dc, dc.Service(), dc.Store()
	h := dc.Handler()
	d.handler.Store(&h)
}

// Serve puts another handler in front of the data center's URL, such as
// one that mounts a console configured by the test; Handler still returns
// what the data center itself serves.
func (d *DataCenter) Serve(h http.Handler) { d.front.Store(&h) }

// Handler is what serves the data center's URL, for tests that call it
// in-process.
func (d *DataCenter) Handler() http.Handler { return *d.handler.Load() }

// Metrics are the data center's metrics, served at /metrics.
func (d *DataCenter) Metrics() *metrics.Metrics { return d.dc.Metrics() }

func (d *DataCenter) stop() {
	err := d.dc.Close(context.Background())
	switch {
	case err == nil:
	case d.storeTakenAway.Load():
		d.t.Logf("closing the data center after its store was taken away: %v", err)
	default:
		// A shutdown that cannot write what it holds is a failure.
		d.t.Errorf("closing the data center: %v", err)
	}
}

// StoreTakenAway tells the data center that the test broke its store on
// purpose, so that the writes its shutdown can no longer make are logged
// rather than failing the test.
func (d *DataCenter) StoreTakenAway() { d.storeTakenAway.Store(true) }

// Restart stops the data center and starts it again on the same store,
// behind the same URL.
func (d *DataCenter) Restart() {
	d.stop()
	d.start()
}

// SigningKey returns the data center's newest private key, opened with the
// test master key, so tests can forge tokens that carry a valid signature
// but break another rule. The data center must sign with RS256.
func (d *DataCenter) SigningKey() (string, *rsa.PrivateKey) {
	d.t.Helper()
	kid, _, priv := d.newestKey()
	key, ok := priv.(*rsa.PrivateKey)
	if !ok {
		d.t.Fatalf("the newest signing key is a %T, not an RSA key", priv)
	}
	return kid, key
}

func (d *DataCenter) newestKey() (string, token.Algorithm, crypto.Signer) {
	d.t.Helper()
	keys, err := d.Store.SigningKeys(context.Background())
	if err != nil || len(keys) == 0 {
		d.t.Fatalf("signing keys: %v", err)
	}
	k := keys[len(keys)-1]
	der, err := testkit.Sealer().Open(k.ID, k.PrivateKey)
	if err != nil {
		d.t.Fatal(err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		d.t.Fatal(err)
	}
	alg, err := token.ParseAlgorithm(k.Algorithm)
	if err != nil {
		d.t.Fatal(err)
	}
	return k.ID, alg, priv.(crypto.Signer)
}

// Forge re-signs the claims of tok, changed by mutate, with the data
// center's newest key under the header type typ: a token whose only fault
// is what the test changed.
func (d *DataCenter) Forge(tok, typ string, mutate func(*token.AccessClaims)) string {
	d.t.Helper()
	kid, alg, key := d.newestKey()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		d.t.Fatalf("forge: not a JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		d.t.Fatal(err)
	}
	var c token.AccessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		d.t.Fatal(err)
	}
	mutate(&c)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		d.t.Fatal(err)
	}
	forged, err := jwt.Signed(sig).Claims(c).Serialize()
	if err != nil {
		d.t.Fatal(err)
	}
	return forged
}

// B64 is the base64url JSON of v, for hand-built token segments.
func B64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Forgeries are the admin's access token broken one way each: the
// families every verifier of d's tokens must refuse. The data center must
// sign with RS256.
type Forgeries struct {
	Good string // the token they are made from, fresh
	// The signature attacks: alg none, HS256 keyed with the RSA public key
	// (algorithm confusion), an unknown kid, no signature at all.
	None, HS256, UnknownKid, Stripped string
	// Validly signed, one claim wrong: another issuer, another audience, no
	// expiry, not valid for another hour.
	ForeignIssuer, WrongAudience, NoExpiry, NotYetValid string
}

// Forgeries makes the forgeries of a fresh admin token.
func (d *DataCenter) Forgeries() Forgeries {
	d.t.Helper()
	good := d.AdminToken()
	parts := strings.Split(good, ".")
	kid, key := d.SigningKey()
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		d.t.Fatal(err)
	}
	signing := B64(map[string]string{"alg": "HS256", "typ": "at+jwt", "kid": kid}) + "." + parts[1]
	mac := hmac.New(sha256.New, pubDER)
	mac.Write([]byte(signing))
	return Forgeries{
		Good:          good,
		None:          B64(map[string]string{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + parts[1] + ".",
		HS256:         signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)),
		UnknownKid:    B64(map[string]string{"alg": "RS256", "typ": "at+jwt", "kid": "nope"}) + "." + parts[1] + "." + parts[2],
		Stripped:      parts[0] + "." + parts[1] + ".",
		ForeignIssuer: d.Forge(good, "at+jwt", func(c *token.AccessClaims) { c.Issuer = "https://evil.example/bc" }),
		WrongAudience: d.Forge(good, "at+jwt", func(c *token.AccessClaims) { c.Audience = jwt.Audience{"elsewhere.example"} }),
		NoExpiry:      d.Forge(good, "at+jwt", func(c *token.AccessClaims) { c.Expiry = nil }),
		NotYetValid: d.Forge(good, "at+jwt", func(c *token.AccessClaims) {
			c.NotBefore = jwt.NewNumericDate(d.Clock.Now().Add(time.Hour))
		}),
	}
}
