// Package datacenter assembles one Gatehouse data center from a Config:
// its store with the store's change feed and failure limiter, the master
// key that seals its signing keys, the bootstrap of an empty store, the
// service, the HTTP server with its console and metrics, and the profile
// listener. It is the one composition root: gatehouse serve, gatehouse dev
// and the tests all build a data center through it, so what the tests
// start is what ships.
package datacenter

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/httpedge"
	"github.com/gatehouse-dev/gatehouse/keycrypt"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/token"
)

// The defaults of a data center, defined here once: the flags of
// gatehouse serve, gatehouse dev and the tests all take them from here.
const (
	DefaultListen            = "127.0.0.1:8080"
	DefaultID                = "local"
	DefaultDataDir           = "./gatehouse-data"
	DefaultTokenTTL          = 2 * time.Hour
	DefaultLeeway            = 30 * time.Second
	DefaultKeyRotationPeriod = 30 * 24 * time.Hour
	DefaultAuthFailureLimit  = ratelimit.DefaultLimit
	DefaultAuthFailureWindow = ratelimit.DefaultWindow
	DefaultSigningAlgorithm  = string(token.DefaultAlgorithm)

	// Bounds of the configuration: values outside them are mistakes (a TTL
	// of 1ns issues tokens expired at birth; a rotation period of seconds
	// grows the JWKS without end), refused at start.
	MinTokenTTL          = time.Second
	MaxTokenTTL          = 24 * time.Hour
	MaxLeeway            = 5 * time.Minute
	MinKeyRotationPeriod = time.Hour

	// ShutdownGrace is how long requests in flight get to finish once the
	// data center is told to stop.
	ShutdownGrace = 10 * time.Second
	// CloseTimeout bounds the final flush of lazily written state.
	CloseTimeout = 5 * time.Second
)

// BootstrapFile is where generated bootstrap credentials are written,
// inside the data directory.
const BootstrapFile = "bootstrap-client.json"

// Config is everything a data center is built from. Start from Defaults,
// which sets every field that has a default.
type Config struct {
	// ID is the data center's short name.
	ID string
	// URL is its public base URL, and so its tokens' issuer; "" means
	// http:// and the address it listens on.
	URL string
	// Listen is the address to listen on when Listener is nil.
	Listen string
	// Listener, if set, is already listening (gatehouse dev opens every
	// port before it starts anything).
	Listener net.Listener
	// DataDir holds the embedded SQLite store, the generated master key
	// and the generated bootstrap credentials.
	DataDir string
	// Database is a postgres:// URL shared by the replicas of a data
	// center; "" for the embedded SQLite store in DataDir.
	Database string
	// AllowNewStore lets a data directory that has served before (its
	// generated master key or bootstrap credentials are there) start on
	// an empty or missing store: the deliberate way to start over. Without
	// it such a start is refused, as it most likely means the database
	// was lost, and bootstrapping a new one would answer every existing
	// client with 401.
	AllowNewStore bool

	TokenTTL          time.Duration
	Leeway            time.Duration // may be zero: no clock-skew allowance
	KeyRotationPeriod time.Duration // zero turns scheduled rotation off
	AuthFailureLimit  int
	AuthFailureWindow time.Duration
	// TrustedProxies are comma-separated addresses or CIDR prefixes of
	// the load balancers whose X-Forwarded-For names the client.
	TrustedProxies   string
	SigningAlgorithm string
	// Peers are the other data centers of the cloud.
	Peers []gatehouse.Datacenter
	// PprofListen is a loopback address to serve Go's profiles on; "" is off.
	PprofListen string

	// MasterKey is the base64 master key (GATEHOUSE_MASTER_KEY's value),
	// MasterKeyFile a file holding one; with neither, DataDir/master.key
	// is used, and generated on a fresh single-node store.
	MasterKey     string
	MasterKeyFile string
	// LocalMasterKey says a generated master key is expected to stay
	// beside its data (gatehouse dev's throwaway clouds), so generating
	// one is no warning.
	LocalMasterKey bool
	// Sealer, when set, is the master key itself, and the master-key
	// policy above is skipped: for tests, which share one key.
	Sealer *keycrypt.Sealer

	// Bootstrap, when set, are the operator's chosen credentials of the
	// first admin; nil generates them and writes them to
	// DataDir/BootstrapFile before the store commits them.
	Bootstrap *service.BootstrapCredentials

	Logger *slog.Logger

	// For tests: the wall clock, the monotonic clock (see
	// service.Config.Elapsed), and how often lazily written state reaches
	// the store and the store is re-read (the service's defaults if zero).
	Now                 func() time.Time
	Elapsed             func() time.Duration
	AccessFlushInterval time.Duration
	SyncInterval        time.Duration
	// Hooks let tests wait for the service's background work.
	Hooks service.Hooks
	// OnReady, if set, is called by Run once the data center is
	// bootstrapped, just before it serves.
	OnReady func(*DataCenter)
}

// Defaults returns the configuration gatehouse serve starts with when
// given no flags.
func Defaults() Config {
	return Config{
		ID:                DefaultID,
		Listen:            DefaultListen,
		DataDir:           DefaultDataDir,
		TokenTTL:          DefaultTokenTTL,
		Leeway:            DefaultLeeway,
		KeyRotationPeriod: DefaultKeyRotationPeriod,
		AuthFailureLimit:  DefaultAuthFailureLimit,
		AuthFailureWindow: DefaultAuthFailureWindow,
		SigningAlgorithm:  DefaultSigningAlgorithm,
	}
}

// withDefaults fills only what has no meaningful zero: an operator's
// --token-ttl 0 is refused rather than quietly replaced, so callers start
// from Defaults and change what they mean to.
func (c Config) withDefaults() Config {
	if c.SigningAlgorithm == "" {
		c.SigningAlgorithm = DefaultSigningAlgorithm // an empty twin means the default
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate refuses a configuration before anything is opened or written,
// naming the flag an operator would fix.
func (c Config) validate() ([]netip.Prefix, error) {
	if c.TokenTTL <= 0 {
		return nil, fmt.Errorf("--token-ttl must be positive, got %s", c.TokenTTL)
	}
	// Tokens carry whole seconds (exp, expires_in): a fraction would make
	// expires_in disagree with exp.
	if c.TokenTTL < MinTokenTTL || c.TokenTTL > MaxTokenTTL || c.TokenTTL%time.Second != 0 {
		return nil, fmt.Errorf("--token-ttl must be a whole number of seconds from %s to %s, got %s", MinTokenTTL, MaxTokenTTL, c.TokenTTL)
	}
	if c.Leeway < 0 {
		return nil, fmt.Errorf("--leeway must not be negative, got %s", c.Leeway)
	}
	if c.Leeway > MaxLeeway {
		return nil, fmt.Errorf("--leeway must be at most %s, got %s: a larger one accepts tokens long expired", MaxLeeway, c.Leeway)
	}
	trusted, err := httpedge.ParseTrustedProxies(c.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	if _, err := token.ParseAlgorithm(c.SigningAlgorithm); err != nil {
		return nil, fmt.Errorf("--signing-alg (GATEHOUSE_SIGNING_ALG): %w", err)
	}
	if c.KeyRotationPeriod < 0 {
		return nil, fmt.Errorf("--key-rotation-period must not be negative, got %s", c.KeyRotationPeriod)
	}
	if c.KeyRotationPeriod != 0 && c.KeyRotationPeriod < MinKeyRotationPeriod {
		return nil, fmt.Errorf("--key-rotation-period must be 0 (off) or at least %s, got %s: every rotation keeps a key published until its tokens expire", MinKeyRotationPeriod, c.KeyRotationPeriod)
	}
	if c.AuthFailureLimit < 1 || c.AuthFailureWindow <= 0 {
		return nil, errors.New("--auth-failure-limit must be at least 1 and --auth-failure-window positive")
	}
	if c.URL != "" {
		if _, _, err := token.IssuerAndAudience(c.URL); err != nil {
			return nil, err
		}
	}
	if c.Database != "" && !isPostgres(c.Database) {
		return nil, errNotADatabaseURL
	}
	if c.Bootstrap != nil {
		if err := validateChosen(*c.Bootstrap); err != nil {
			return nil, err
		}
	}
	return trusted, nil
}
