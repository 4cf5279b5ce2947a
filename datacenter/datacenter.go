package datacenter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/console"
	"github.com/gatehouse-dev/gatehouse/internal/profiling"
	"github.com/gatehouse-dev/gatehouse/metrics"
	"github.com/gatehouse-dev/gatehouse/server"
	"github.com/gatehouse-dev/gatehouse/service"
)

// DataCenter is one assembled data center: open, bootstrapped and ready
// to serve HTTP.
type DataCenter struct {
	cfg     Config
	url     string
	backend gatehouse.Backend
	svc     *service.Service
	srv     *server.Server
	metrics *metrics.Metrics
}

// Open assembles a data center on cfg.URL without listening: the caller
// serves Handler (tests put it behind their own listener). A URL is
// required here; Run derives one from the listener when it is "".
func Open(ctx context.Context, cfg Config) (*DataCenter, error) {
	cfg = cfg.withDefaults()
	trusted, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		return nil, errors.New("datacenter: no URL")
	}
	return open(ctx, cfg, trusted)
}

func open(ctx context.Context, cfg Config, trusted []netip.Prefix) (*DataCenter, error) {
	log := cfg.Logger
	// Checked again by service.New; here, before anything is written to
	// the data directory, so that a mistyped --peer leaves nothing behind.
	if err := service.ValidatePeers(cfg.ID, cfg.URL, cfg.Peers); err != nil {
		return nil, err
	}
	b, err := openBackend(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	d := &DataCenter{cfg: cfg, url: cfg.URL, backend: b, metrics: metrics.New()}
	fail := func(err error) (*DataCenter, error) {
		cctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
		defer cancel()
		if cerr := d.Close(cctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("and shutting down after it: %w", cerr))
		}
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fail(fmt.Errorf("data directory: %w", err))
	}
	sealer := cfg.Sealer
	if sealer == nil {
		if sealer, err = loadMasterKey(ctx, cfg, b.Store); err != nil {
			return fail(err)
		}
	}
	// Every store call is timed, the service's and the bootstrap's alike.
	store := d.metrics.InstrumentStore(b.Store)
	svc, err := service.New(service.Config{
		Store:               store,
		Sealer:              sealer,
		Changes:             b.Changes,
		AuthLimiter:         b.Limiter,
		DatacenterURL:       cfg.URL,
		DatacenterID:        cfg.ID,
		Peers:               cfg.Peers,
		TokenTTL:            cfg.TokenTTL,
		Leeway:              cfg.Leeway,
		KeyRotationPeriod:   cfg.KeyRotationPeriod,
		SigningAlgorithm:    cfg.SigningAlgorithm,
		Logger:              log,
		Now:                 cfg.Now,
		Elapsed:             cfg.Elapsed,
		AccessFlushInterval: cfg.AccessFlushInterval,
		SyncInterval:        cfg.SyncInterval,
		Hooks:               cfg.Hooks,
	})
	if err != nil {
		return fail(err)
	}
	if err := svc.Start(ctx); err != nil {
		return fail(err)
	}
	d.svc = svc
	if err := bootstrap(ctx, svc, log, cfg.DataDir, cfg.Bootstrap); err != nil {
		return fail(err)
	}
	d.metrics.ObserveService(svc)
	d.srv = server.New(server.Config{
		Service:        svc,
		DatacenterURL:  cfg.URL,
		Logger:         log,
		Metrics:        d.metrics,
		Console:        console.New(console.Config{Service: svc, DatacenterURL: cfg.URL, Logger: log}),
		TrustedProxies: trusted,
	})
	return d, nil
}

// Run assembles a data center, listens, and serves until ctx ends, then
// shuts down: requests in flight get ShutdownGrace, lazily written state
// is flushed, the store is closed.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	trusted, err := cfg.validate()
	if err != nil {
		return err
	}
	log := cfg.Logger
	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
	}
	defer ln.Close()
	var pprofLn net.Listener
	if cfg.PprofListen != "" {
		if pprofLn, err = profiling.Listen(cfg.PprofListen); err != nil {
			return err
		}
		defer pprofLn.Close()
	}
	if cfg.URL == "" {
		cfg.URL = "http://" + ln.Addr().String()
	}
	d, err := open(ctx, cfg, trusted)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
		defer cancel()
		if err := d.Close(cctx); err != nil {
			log.Warn("writing client accesses at shutdown failed", "err", err)
		}
	}()
	log.Info("gatehouse listening",
		"addr", ln.Addr().String(),
		"datacenter_id", cfg.ID,
		"datacenter_url", cfg.URL,
		"issuer", d.svc.Issuer(),
		"store", storeName(cfg.Database, cfg.DataDir))
	if pprofLn != nil {
		pctx, stopProfiles := context.WithCancel(ctx)
		profilesDone := make(chan struct{})
		defer func() { stopProfiles(); <-profilesDone }()
		log.Info("serving profiles (net/http/pprof)", "addr", "http://"+pprofLn.Addr().String()+"/debug/pprof/")
		go func() {
			defer close(profilesDone)
			if err := profiling.Serve(pctx, pprofLn, log); err != nil {
				log.Warn("profile listener stopped", "err", err)
			}
		}()
	}
	if cfg.OnReady != nil {
		cfg.OnReady(d)
	}
	err = d.srv.Serve(ctx, ln, ShutdownGrace)
	log.Info("gatehouse stopped")
	return err
}

// URL is the data center's public base URL.
func (d *DataCenter) URL() string { return d.url }

// Service is the data center's service.
func (d *DataCenter) Service() *service.Service { return d.svc }

// Store is the data center's store, as the backend opened it (not timed
// by the metrics).
func (d *DataCenter) Store() gatehouse.Store { return d.backend.Store }

// Metrics are the data center's Prometheus metrics, served at /metrics.
func (d *DataCenter) Metrics() *metrics.Metrics { return d.metrics }

// Handler is the data center's HTTP handler: the IdP, the account API,
// the console, metrics and health checks.
func (d *DataCenter) Handler() http.Handler { return d.srv }

// Close stops the service, flushing what it writes lazily, and closes the
// store, reporting what failed. ctx bounds the flush.
func (d *DataCenter) Close(ctx context.Context) error {
	var errs []error
	if d.svc != nil {
		if err := d.svc.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop service: %w", err))
		}
	}
	if err := d.backend.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	return errors.Join(errs...)
}

// storeName describes the store for the log, without a DSN's password.
func storeName(database, dataDir string) string {
	if !isPostgres(database) {
		return "sqlite:" + filepath.Join(dataDir, sqliteFile)
	}
	if u, err := url.Parse(database); err == nil {
		return "postgres://" + u.Host + u.Path
	}
	return "postgres"
}
