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
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/keycrypt"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/service/replica"
	"github.com/gatehouse-dev/gatehouse/token"
)

// Config configures a Service. Zero durations and sizes take the defaults
// named on each field.
type Config struct {
	Store gatehouse.Store
	// Changes is the change feed of a store that several processes share
	// (Backend.Changes): the service drops what it cached whenever another
	// process changes it. nil for a store this process owns, whose changes
	// all go through this service.
	Changes       gatehouse.ChangeFeed
	DatacenterURL string
	DatacenterID  string
	TokenTTL      time.Duration
	Leeway        time.Duration
	Logger        *slog.Logger
	// Now is the wall clock (time.Now if nil). Elapsed is a monotonic
	// clock: the time passed since a fixed moment, which no step of the
	// wall clock moves (the process's own if nil). Revocations are
	// forgotten by the time Elapsed measures passing (see
	// syncRevocations).
	Now     func() time.Time
	Elapsed func() time.Duration
	// AccessFlushInterval (5s) is how often lazily recorded client accesses
	// are written; each client is written at most once per
	// AccessMinInterval (1m).
	AccessFlushInterval time.Duration
	AccessMinInterval   time.Duration
	// SyncInterval (10s) is the safety net under the change feed: how often
	// revocations and keys are reloaded and the client cache is dropped,
	// whether or not any change was announced.
	SyncInterval time.Duration
	// ClientCacheSize (100,000) bounds the in-memory client cache.
	ClientCacheSize int
	// Sealer encrypts private signing keys at rest under the master key;
	// required, so that a database dump alone cannot sign tokens.
	Sealer *keycrypt.Sealer
	// AuthLimiter counts failed client authentications; nil means an
	// in-memory limiter of 20 failures a minute per key. Replicas sharing a
	// store should share a limiter too.
	AuthLimiter gatehouse.Limiter
	// SigningAlgorithm is what new signing keys sign with: RS256 (the
	// default, the platform's), ES256 or EdDSA. Changing it on a running
	// data center rotates in a key of the new algorithm at the next start.
	SigningAlgorithm string
	// KeyRotationPeriod is how old the newest signing key may grow before a
	// new one is rotated in; zero turns scheduled rotation off.
	KeyRotationPeriod time.Duration
	// KeyPublishDelay (6m) is how long a new key is published before it
	// signs: at least the JWKS cache period verifiers are told to use.
	KeyPublishDelay time.Duration
	// StoreTimeout (3s) bounds each store call made while serving a request,
	// so an unreachable database turns into a 503 quickly.
	StoreTimeout time.Duration
	// Peers are the other data centers of the cloud: listed by
	// Datacenters, and named in the refusal of a token one of them issued.
	Peers []gatehouse.Datacenter
	// Hooks let tests wait for the background work.
	Hooks Hooks
}

// Service implements Gatehouse's use cases over a Store.
type Service struct {
	store        gatehouse.Store
	log          *slog.Logger
	now          func() time.Time
	elapsed      func() time.Duration
	issuer       *token.Issuer
	verifier     *token.Verifier
	keys         *token.KeyRing
	access       accessLog
	clients      clientCache
	verified     verifiedCache
	revoked      revocations
	horizon      revocationHorizon
	feed         *replica.Listener
	changeFeed   gatehouse.ChangeFeed // nil for a store one process owns
	hooks        Hooks
	dcID         string
	dcURL        string
	storeTimeout time.Duration
	syncEvery    time.Duration
	limiter      gatehouse.Limiter
	dir          *directory
	ready        readiness

	signingAlg      token.Algorithm
	rotationPeriod  time.Duration
	keyPublishDelay time.Duration
	sealer          *keycrypt.Sealer
	secrets         *gatehouse.SecretHasher
	warnedLegacy    sync.Once
	// noSigningKeyLogged: the lack of an active signing key was logged,
	// and no token has been signed since.
	noSigningKeyLogged atomic.Bool
	// algorithmSettled: the newest key is of signingAlg, or was rotated to
	// it by this process. Checked at start, and on each resync until it
	// holds, never again after: replicas configured differently then rotate
	// once per restart rather than back and forth all day.
	algorithmSettled bool

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New builds a Service. Call Start before serving and Close after.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("service: no store")
	}
	if cfg.Sealer == nil {
		return nil, errors.New("service: no master key to seal signing keys with")
	}
	iss, aud, err := token.IssuerAndAudience(cfg.DatacenterURL)
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
	if cfg.Elapsed == nil {
		started := time.Now()
		cfg.Elapsed = func() time.Duration { return time.Since(started) }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.AccessFlushInterval = orDefault(cfg.AccessFlushInterval, 5*time.Second)
	cfg.AccessMinInterval = orDefault(cfg.AccessMinInterval, time.Minute)
	cfg.SyncInterval = orDefault(cfg.SyncInterval, 10*time.Second)
	cfg.StoreTimeout = orDefault(cfg.StoreTimeout, 3*time.Second)
	cfg.KeyPublishDelay = orDefault(cfg.KeyPublishDelay, 6*time.Minute)
	signingAlg := token.DefaultAlgorithm
	if cfg.SigningAlgorithm != "" {
		if signingAlg, err = token.ParseAlgorithm(cfg.SigningAlgorithm); err != nil {
			return nil, err
		}
	}
	if cfg.KeyRotationPeriod < 0 {
		return nil, fmt.Errorf("key rotation period must not be negative, got %s", cfg.KeyRotationPeriod)
	}
	if cfg.ClientCacheSize <= 0 {
		cfg.ClientCacheSize = 100_000
	}
	if cfg.AuthLimiter == nil {
		cfg.AuthLimiter = ratelimit.NewMemory(ratelimit.Config{Now: cfg.Now})
	}
	dir, err := newDirectory(cfg.DatacenterID, cfg.DatacenterURL, cfg.Peers)
	if err != nil {
		return nil, err
	}
	shared := cfg.Changes != nil
	keys := &token.KeyRing{}
	s := &Service{
		store:        cfg.Store,
		log:          cfg.Logger,
		now:          cfg.Now,
		elapsed:      cfg.Elapsed,
		keys:         keys,
		issuer:       &token.Issuer{URL: iss, Audience: aud, TTL: cfg.TokenTTL, Keys: keys},
		verified:     replica.NewVerifiedTokens(cfg.ClientCacheSize),
		revoked:      replica.NewRevocationSet(),
		dcID:         cfg.DatacenterID,
		dcURL:        cfg.DatacenterURL,
		storeTimeout: cfg.StoreTimeout,
		syncEvery:    cfg.SyncInterval,
		limiter:      cfg.AuthLimiter,
		dir:          dir,
		hooks:        cfg.Hooks,

		signingAlg:      signingAlg,
		rotationPeriod:  cfg.KeyRotationPeriod,
		keyPublishDelay: cfg.KeyPublishDelay,
		sealer:          cfg.Sealer,
		secrets:         gatehouse.NewSecretHasher(cfg.Sealer.SecretHashKey()),
	}
	// The cache trusts itself from the start only where it hears of every
	// change: a store this process alone writes. A shared store's cache is
	// trusted while its change feed is connected.
	clients := replica.NewClientCache[tenantState](cfg.ClientCacheSize, !shared)
	s.clients = clients
	s.changeFeed = cfg.Changes
	s.feed = &replica.Listener{
		Cache:             clients,
		ReloadRevocations: s.syncRevocations,
		ReloadKeys:        s.reloadKeys,
		Timeout:           cfg.StoreTimeout,
		Log:               cfg.Logger,
		Applied:           cfg.Hooks.Changed,
	}
	keySource := &replica.ReloadingKeys{
		Keys: keys,
		Reload: func(ctx context.Context) error {
			if err := s.reloadKeys(ctx); err != nil {
				// The store could not say whether the key exists: not the
				// token's fault, so not a 401.
				return unavailable(errors.Join(errors.New("reload signing keys"), err))
			}
			return nil
		},
		Cooldown: time.Second,
		Timeout:  cfg.StoreTimeout,
	}
	s.verifier = &token.Verifier{Issuer: iss, Audience: aud, Keys: keySource, Leeway: cfg.Leeway}
	s.access = replica.NewAccessRecorder(replica.AccessConfig{
		Store: cfg.Store, Log: cfg.Logger, Now: cfg.Now,
		Every: cfg.AccessFlushInterval, MinInterval: cfg.AccessMinInterval,
		// A cached client lacks the access just written: drop it.
		Written: func(ids []string) {
			for _, id := range ids {
				s.clients.Invalidate(id)
			}
		},
		Flushed: cfg.Hooks.Flushed,
	})
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Start loads the signing keys, creating the first one on an empty store,
// loads the revocations, and starts the background work: writing client
// accesses, following the store's change feed, and the periodic resync.
func (s *Service) Start(ctx context.Context) error {
	if err := s.ensureSigningKey(ctx); err != nil {
		return err
	}
	if err := s.syncRevocations(ctx); err != nil {
		return fmt.Errorf("load token revocations: %w", err)
	}
	s.algorithmSettled = s.rotateToConfiguredAlgorithm(ctx)
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.access.Start()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runSync(bg)
	}()
	if s.changeFeed != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.feed.Run(bg, s.changeFeed)
		}()
	}
	return nil
}

// ErrCloseTimeout means Close gave up waiting for the background work
// (the change feed, the resync) to end; what was pending was still written
// or reported.
var ErrCloseTimeout = errors.New("service: background work did not stop before the close deadline")

// Close stops the background work and writes the pending client accesses
// and token counts. The write is attempted first, with all of ctx's time,
// and whatever it could not write is reported (a *replica.UnwrittenError
// naming how many); a background task that outlives ctx is reported as
// ErrCloseTimeout. Either way the service is closed: every later Close
// returns the first one's result.
func (s *Service) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Service) close(ctx context.Context) error {
	if s.cancel == nil {
		return nil // never started: nothing runs, nothing was noted
	}
	s.cancel()
	// Writing what is pending needs none of the other background work, so
	// it does not wait for it: a resync stuck on the store must not cost
	// the accesses their chance.
	flushErr := s.access.Stop(ctx)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var waitErr error
	select {
	case <-done:
	case <-ctx.Done():
		waitErr = fmt.Errorf("%w: %w", ErrCloseTimeout, ctx.Err())
	}
	return errors.Join(flushErr, waitErr)
}

// runSync is the safety net under the change feed.
func (s *Service) runSync(ctx context.Context) {
	t := time.NewTicker(s.syncEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, 2*s.storeTimeout)
		if err := s.syncRevocations(sctx); err != nil && ctx.Err() == nil {
			s.log.Warn("reloading token revocations failed; will retry", "err", err)
		}
		if err := s.reloadKeys(sctx); err != nil && ctx.Err() == nil {
			s.log.Warn("reloading signing keys failed; will retry", "err", err)
		}
		if !s.algorithmSettled {
			s.algorithmSettled = s.rotateToConfiguredAlgorithm(sctx)
		}
		s.rotateIfDue(sctx)
		cancel()
		if s.changeFeed != nil {
			s.clients.Purge()
		}
		if s.hooks.Synced != nil {
			s.hooks.Synced()
		}
	}
}

// Issuer is the iss of this data center's tokens.
func (s *Service) Issuer() string { return s.issuer.URL }

// Audience is the aud of this data center's access tokens.
func (s *Service) Audience() string { return s.issuer.Audience }

// DatacenterID is this data center's short name.
func (s *Service) DatacenterID() string { return s.dcID }

// SigningAlgorithms are the algorithms of the published keys, the one
// that signs now first (for discovery).
func (s *Service) SigningAlgorithms() []string { return s.keys.PublishedAlgorithms(s.now()) }

// Keys is the data center's key ring (for the JWKS).
func (s *Service) Keys() *token.KeyRing { return s.keys }

// ReadyCheckInterval is how often, at most, Ready writes the store's
// heartbeat; probes in between get the last answer. /readyz is open to
// anyone who can reach the port, and each check is a durable write.
const ReadyCheckInterval = time.Second

// readiness remembers the last readiness check. Its lock is held across a
// check, so concurrent probes wait for the one in flight instead of each
// writing.
type readiness struct {
	mu      sync.Mutex
	checked time.Time // by the monotonic clock: a clock step must not keep a stale answer
	err     error
}

// Ready reports whether the store answers and can write: a store that
// answers reads but cannot commit (a full disk, a read-only file, a
// standby) would serve tokens and fail every change and every flush of
// client accesses.
func (s *Service) Ready(ctx context.Context) error {
	r := &s.ready
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.checked.IsZero() && time.Since(r.checked) < ReadyCheckInterval {
		return r.err
	}
	cctx, cancel := context.WithTimeout(ctx, s.storeTimeout)
	defer cancel()
	err := s.store.Ping(cctx)
	if err == nil {
		err = s.store.Heartbeat(cctx, s.now())
	}
	if err != nil && ctx.Err() != nil {
		// The probe gave up, not the store: say nothing for the next one.
		return unavailable(err)
	}
	if err != nil {
		err = unavailable(err)
	}
	r.checked, r.err = time.Now(), err
	return err
}

func (s *Service) ensureSigningKey(ctx context.Context) error {
	keys, err := s.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	if len(keys) == 0 {
		k, err := token.GenerateSigningKey(s.signingAlg, s.now())
		if err != nil {
			return err
		}
		if k.PrivateKey, err = s.sealer.Seal(k.ID, k.PrivateKey); err != nil {
			return fmt.Errorf("seal signing key: %w", err)
		}
		// Another replica may be creating the first key at the same
		// moment: the key set's transaction lets the first one in, and the
		// others find its key and keep it. No audit entry: nobody acted,
		// and there may be no tenant yet to log it in.
		created := false
		err = s.store.UpdateSigningKeys(ctx, func(current []gatehouse.SigningKey) ([]gatehouse.SigningKey, error) {
			if created = len(current) == 0; !created {
				return current, nil
			}
			return []gatehouse.SigningKey{k}, nil
		}, gatehouse.NoAudit)
		if err != nil {
			return fmt.Errorf("store signing key: %w", err)
		}
		if created {
			s.log.Info("created signing key", "kid", k.ID, "alg", k.Algorithm)
		}
	}
	if err := s.reloadKeys(ctx); err != nil {
		return err
	}
	// A clock behind every key's activation is no reason not to start: the
	// keys verify tokens and are published meanwhile, and the token
	// endpoint answers 503 until one becomes active.
	if now := s.now(); s.keys.SigningKeyIDAt(now) == "" {
		_ = s.noSigningKey(now)
	}
	return nil
}

// reloadKeys loads the key set from the store and opens the sealed private
// keys. A key that does not open leaves the ring as it was: a wrong master
// key must stop the server, never make it sign with something else.
func (s *Service) reloadKeys(ctx context.Context) error {
	keys, err := s.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	legacy := 0
	for i := range keys {
		k := &keys[i]
		if !keycrypt.IsSealed(k.PrivateKey) {
			legacy++ // stored before keys were sealed
			continue
		}
		plain, err := s.sealer.Open(k.ID, k.PrivateKey)
		if errors.Is(err, keycrypt.ErrWrongMasterKey) {
			return fmt.Errorf("signing key %s cannot be decrypted: %w; start the server with the master key "+
				"(GATEHOUSE_MASTER_KEY or the key file) it was first started with", k.ID, err)
		}
		if err != nil {
			return fmt.Errorf("signing key %s cannot be decrypted: %w", k.ID, err)
		}
		k.PrivateKey = plain
	}
	if legacy > 0 {
		s.warnedLegacy.Do(func() {
			s.log.Warn("some signing keys are stored unencrypted, from before keys were sealed; rotate them out with gatehouse keys rotate", "keys", legacy)
		})
	}
	return s.keys.Load(keys, s.now())
}

// unavailable wraps a store failure that is not the caller's fault, so the
// edge answers 503 rather than blaming the request.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var ge *gatehouse.Error
	if errors.As(err, &ge) || errors.Is(err, gatehouse.ErrNotFound) || errors.Is(err, gatehouse.ErrConflict) ||
		errors.Is(err, gatehouse.ErrInvalid) || errors.Is(err, gatehouse.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", gatehouse.ErrUnavailable, err)
}

// storableID reports whether an identifier from a request can name
// anything in a store: bounded, valid UTF-8, no control characters. Others
// are answered as unknown before a store sees them (PostgreSQL text cannot
// even hold a NUL).
func storableID(id string) bool {
	if len(id) == 0 || len(id) > 256 || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
