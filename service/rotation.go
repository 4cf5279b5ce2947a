package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/token"
)

// KeyInfo describes a signing key without its private part.
type KeyInfo struct {
	ID        string
	Algorithm string
	CreatedAt time.Time
	ActiveAt  time.Time
	RetireAt  time.Time // zero: not scheduled
	// State is "next" (published, not yet signing), "active" (signs new
	// tokens), "previous" (published so its tokens verify, no longer signs)
	// or "retired" (gone from the JWKS).
	State string
}

// Key states of KeyInfo.
const (
	KeyNext     = "next"
	KeyActive   = "active"
	KeyPrevious = "previous"
	KeyRetired  = "retired"
)

// ListKeys describes the data center's signing keys, oldest first. Only
// operators (admins of the root tenant) may see them.
func (s *Service) ListKeys(ctx context.Context, p *Principal) ([]KeyInfo, error) {
	if err := s.authorize(ctx, p, ActionKeyList, target{tenantID: p.Client.TenantID}); err != nil {
		return nil, err
	}
	keys, err := s.store.SigningKeys(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	now := s.now()
	signing := s.keys.SigningKeyIDAt(now)
	out := make([]KeyInfo, 0, len(keys))
	for _, k := range keys {
		ki := KeyInfo{ID: k.ID, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt, ActiveAt: k.ActiveAt, RetireAt: k.RetireAt}
		switch {
		case !k.RetireAt.IsZero() && !now.Before(k.RetireAt):
			ki.State = KeyRetired
		case k.ID == signing:
			ki.State = KeyActive
		case now.Before(k.ActiveAt):
			ki.State = KeyNext
		default:
			ki.State = KeyPrevious
		}
		out = append(out, ki)
	}
	return out, nil
}

// RotateKeys starts a rotation on an operator's request: see rotate.
func (s *Service) RotateKeys(ctx context.Context, p *Principal) (KeyInfo, error) {
	if err := s.authorize(ctx, p, ActionKeyRotate, target{tenantID: p.Client.TenantID}); err != nil {
		return KeyInfo{}, err
	}
	return s.rotate(ctx, p, time.Time{})
}

// rotate adds a new signing key that is published now and signs only after
// KeyPublishDelay, so every verifier's JWKS cache holds it before it meets a
// token signed with it; the keys it replaces stay published until the last
// token they can have signed has expired. With unlessCreatedAfter set, it
// does nothing if a key was created after that time (another replica
// rotated first).
func (s *Service) rotate(ctx context.Context, p *Principal, unlessCreatedAfter time.Time) (KeyInfo, error) {
	now := s.now().UTC()
	next, err := token.GenerateSigningKey(s.signingAlg, now)
	if err != nil {
		return KeyInfo{}, err
	}
	next.ActiveAt = now.Add(s.keyPublishDelay)
	plain := next.PrivateKey
	if next.PrivateKey, err = s.sealer.Seal(next.ID, plain); err != nil {
		return KeyInfo{}, fmt.Errorf("seal signing key: %w", err)
	}
	retirePrevious := next.ActiveAt.Add(s.issuer.TTL + s.verifier.Leeway)
	err = s.store.UpdateSigningKeys(ctx, func(current []gatehouse.SigningKey) ([]gatehouse.SigningKey, error) {
		return rotateKeySet(current, next, retirePrevious, unlessCreatedAfter)
	}, s.audited(p, ActionKeyRotate, next.ID))
	if err != nil {
		return KeyInfo{}, unavailable(err)
	}
	s.log.Info("rotated signing keys", "kid", next.ID, "alg", next.Algorithm, "signs_from", next.ActiveAt, "previous_retire_at", retirePrevious)
	if err := s.reloadKeys(ctx); err != nil {
		return KeyInfo{}, unavailable(err)
	}
	return KeyInfo{ID: next.ID, Algorithm: next.Algorithm, CreatedAt: next.CreatedAt, ActiveAt: next.ActiveAt, State: KeyNext}, nil
}

// rotateKeySet is the rule of a rotation, applied to the key set inside
// the store's transaction (UpdateSigningKeys), where no other replica can
// change the set under it. It adds next and retires, at retirePrevious,
// every key that became active before next does and would otherwise retire
// later (or never). Keys that become active with next or later (rotated in
// ahead of time) are next's successors, not its predecessors, and keep
// their retirement; an earlier RetireAt is kept, so a rotation never holds
// a key in the key set longer than already planned.
//
// If unlessCreatedAfter is not zero and a key was created after it, the
// rotation is refused with ErrConflict: another replica rotated already.
// Replicas that find rotation due together all pass the same time, the
// newest key they saw, so exactly one of them rotates.
//
// Times are compared at the stores' precision, microseconds, as the stored
// keys' are; a zero retirePrevious is refused, since it would retire every
// earlier key at once (it is long past), rejecting every token they signed.
func rotateKeySet(current []gatehouse.SigningKey, next gatehouse.SigningKey, retirePrevious, unlessCreatedAfter time.Time) ([]gatehouse.SigningKey, error) {
	if retirePrevious.IsZero() {
		return nil, fmt.Errorf("rotate to signing key %q: no retirement time for the previous keys: %w", next.ID, gatehouse.ErrInvalid)
	}
	unless := unlessCreatedAfter.Truncate(time.Microsecond)
	retire := retirePrevious.Truncate(time.Microsecond)
	activeAt := next.ActiveAt.Truncate(time.Microsecond)
	out := make([]gatehouse.SigningKey, 0, len(current)+1)
	for _, k := range current {
		if !unlessCreatedAfter.IsZero() && k.CreatedAt.After(unless) {
			return nil, fmt.Errorf("rotate to signing key %q: key %q was created after %s, another rotation came first: %w",
				next.ID, k.ID, unlessCreatedAfter.UTC().Format(time.RFC3339Nano), gatehouse.ErrConflict)
		}
		if k.ID != next.ID && k.ActiveAt.Before(activeAt) && (k.RetireAt.IsZero() || k.RetireAt.After(retire)) {
			k.RetireAt = retirePrevious
		}
		out = append(out, k)
	}
	return append(out, next), nil
}

// rotateIfDue rotates when the newest key is older than the rotation
// period. Replicas that find rotation due at the same moment race in the
// store, which lets exactly one of them through.
func (s *Service) rotateIfDue(ctx context.Context) {
	if s.rotationPeriod <= 0 {
		return
	}
	keys, err := s.store.SigningKeys(ctx)
	if err != nil {
		s.log.Warn("checking whether keys are due for rotation failed", "err", err)
		return
	}
	var newest time.Time
	for _, k := range keys {
		if k.CreatedAt.After(newest) {
			newest = k.CreatedAt
		}
	}
	now := s.now()
	if now.Sub(newest) < s.rotationPeriod {
		return
	}
	system, err := s.systemPrincipal(ctx)
	if err != nil {
		s.log.Warn("scheduled key rotation: finding the root tenant failed", "err", err)
		return
	}
	_, err = s.rotate(ctx, system, now.Add(-s.rotationPeriod))
	if err != nil && !errors.Is(err, gatehouse.ErrConflict) {
		s.log.Error("scheduled key rotation failed; will retry", "err", err)
	}
}

// systemPrincipal is the actor of rotations nobody asked for, recorded in
// the root tenant's audit log.
func (s *Service) systemPrincipal(ctx context.Context) (*Principal, error) {
	root, err := s.store.RootTenant(ctx)
	if err != nil {
		return nil, err
	}
	return &Principal{Client: gatehouse.Client{ID: SystemActor, TenantID: root.ID}}, nil
}

// rotateToConfiguredAlgorithm rotates in a key of the configured algorithm
// when the newest key is of another: the operator changed the signing
// algorithm. It is an ordinary rotation, so verifiers learn the new key
// before it signs, and tokens the old key signed stay valid until they
// expire. It reports whether nothing is left to do; it is not when the
// store is not bootstrapped yet, or could not be read.
func (s *Service) rotateToConfiguredAlgorithm(ctx context.Context) bool {
	keys, err := s.store.SigningKeys(ctx)
	if err != nil {
		s.log.Warn("checking the signing keys' algorithm failed; will retry", "err", err)
		return false
	}
	// The key that signs last is the one the ring ends up choosing: the
	// latest ActiveAt, ties broken by kid as the ring breaks them. Creation
	// times can tie (keys made within one clock tick); activation times of
	// a key and the key rotated in after it cannot.
	var newest *gatehouse.SigningKey
	for i := range keys {
		k := &keys[i]
		if newest == nil || k.ActiveAt.After(newest.ActiveAt) || (k.ActiveAt.Equal(newest.ActiveAt) && k.ID > newest.ID) {
			newest = k
		}
	}
	if newest == nil || newest.Algorithm == string(s.signingAlg) {
		return true
	}
	system, err := s.systemPrincipal(ctx)
	if err != nil {
		s.log.Warn("switching the signing algorithm: finding the root tenant failed; will retry", "err", err)
		return false
	}
	s.log.Info("signing algorithm changed; rotating in a new key", "from", newest.Algorithm, "to", string(s.signingAlg))
	// Only if no key was created since the newest we saw: a replica that
	// rotated first wins, as with scheduled rotation.
	if _, err := s.rotate(ctx, system, newest.CreatedAt); err != nil && !errors.Is(err, gatehouse.ErrConflict) {
		s.log.Error("switching the signing algorithm failed; will retry", "err", err)
		return false
	}
	return true
}
