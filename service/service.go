// Package service is Gatehouse's application layer: token issuance, bearer
// authentication and the management of API clients, with their
// authorization rules. Every transport (the JSON API, the console) calls it,
// so the rules exist once.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/token"
)

// Config configures a Service.
type Config struct {
	Store         gatehouse.Store
	DatacenterURL string
	DatacenterID  string
	TokenTTL      time.Duration
	Leeway        time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
	// AccessFlushInterval is how often lazily recorded client accesses are
	// written; each client is written at most once per AccessMinInterval.
	AccessFlushInterval time.Duration
	AccessMinInterval   time.Duration
	// RevocationSyncInterval is how often revocations are reloaded from the
	// store (and expired ones purged).
	RevocationSyncInterval time.Duration
}

// Service implements Gatehouse's use cases over a Store.
type Service struct {
	store    gatehouse.Store
	log      *slog.Logger
	now      func() time.Time
	issuer   *token.Issuer
	verifier *token.Verifier
	keys     *token.KeyRing
	access   *accessRecorder
	dcID     string
	dcURL    string
	revoked  *revocationSet

	syncEvery time.Duration
	quit      chan struct{}
	syncDone  chan struct{}
	closeOnce sync.Once
	started   bool
}

// New builds a Service. Call Start before serving and Close after.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("service: no store")
	}
	iss, aud, err := token.Endpoints(cfg.DatacenterURL)
	if err != nil {
		return nil, err
	}
	if cfg.TokenTTL <= 0 {
		return nil, fmt.Errorf("token TTL must be positive, got %s", cfg.TokenTTL)
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("leeway must not be negative, got %s", cfg.Leeway)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AccessFlushInterval <= 0 {
		cfg.AccessFlushInterval = 5 * time.Second
	}
	if cfg.AccessMinInterval <= 0 {
		cfg.AccessMinInterval = time.Minute
	}
	if cfg.RevocationSyncInterval <= 0 {
		cfg.RevocationSyncInterval = 10 * time.Second
	}
	keys := &token.KeyRing{}
	s := &Service{
		store:    cfg.Store,
		log:      cfg.Logger,
		now:      cfg.Now,
		keys:     keys,
		issuer:   &token.Issuer{URL: iss, Audience: aud, TTL: cfg.TokenTTL, Keys: keys},
		verifier: &token.Verifier{Issuer: iss, Audience: aud, Keys: keys, Leeway: cfg.Leeway},
		dcID:     cfg.DatacenterID,
		dcURL:    cfg.DatacenterURL,
		revoked:  &revocationSet{exp: map[string]time.Time{}},

		syncEvery: cfg.RevocationSyncInterval,
		quit:      make(chan struct{}),
		syncDone:  make(chan struct{}),
	}
	s.access = newAccessRecorder(cfg.Store, cfg.Logger, cfg.Now, cfg.AccessFlushInterval, cfg.AccessMinInterval)
	return s, nil
}

// Start loads the signing keys, creating the first one on an empty store,
// and starts the background writer of client accesses.
func (s *Service) Start(ctx context.Context) error {
	if err := s.ensureSigningKey(ctx); err != nil {
		return err
	}
	if err := s.syncRevocations(ctx); err != nil {
		return fmt.Errorf("load token revocations: %w", err)
	}
	s.access.start()
	go s.runRevocationSync(s.syncEvery)
	s.started = true
	return nil
}

// Close writes pending client accesses and stops background work.
func (s *Service) Close(ctx context.Context) error {
	if !s.started {
		return nil
	}
	s.closeOnce.Do(func() { close(s.quit) })
	select {
	case <-s.syncDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.access.stop(ctx)
}

// Issuer is the iss of this data center's tokens.
func (s *Service) Issuer() string { return s.issuer.URL }

// Audience is the aud of this data center's access tokens.
func (s *Service) Audience() string { return s.issuer.Audience }

// Keys is the data center's key ring (for the JWKS).
func (s *Service) Keys() *token.KeyRing { return s.keys }

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

func (s *Service) ensureSigningKey(ctx context.Context) error {
	keys, err := s.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	if len(keys) == 0 {
		k, err := token.GenerateSigningKey(s.now())
		if err != nil {
			return err
		}
		// Another replica may have won the race to create the first key;
		// then its key is the one to load.
		if err := s.store.AddSigningKey(ctx, k); err != nil && !errors.Is(err, gatehouse.ErrConflict) {
			return fmt.Errorf("store signing key: %w", err)
		}
		s.log.Info("created signing key", "kid", k.ID)
		if keys, err = s.store.SigningKeys(ctx); err != nil {
			return fmt.Errorf("load signing keys: %w", err)
		}
	}
	if err := s.keys.Load(keys, s.now()); err != nil {
		return err
	}
	if s.keys.SigningKeyID() == "" {
		return errors.New("no stored signing key is active")
	}
	return nil
}

// unavailable wraps a store failure that is not the caller's fault, so the
// edge answers 503 rather than blaming the request.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var ge *gatehouse.Error
	if errors.As(err, &ge) || errors.Is(err, gatehouse.ErrNotFound) || errors.Is(err, gatehouse.ErrConflict) {
		return err
	}
	return fmt.Errorf("%w: %w", gatehouse.ErrUnavailable, err)
}
