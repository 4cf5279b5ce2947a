package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/token"
)

// VerificationKey implements token.KeySource over the data center's JWKS.
//
// A known kid is answered from the cached set while it is fresh. An unknown
// kid makes the set be fetched again, unless it was fetched less than the
// cooldown ago: then the kid is unknown, and a flood of made-up kids cannot
// turn into a flood of fetches. Concurrent callers share one fetch. When
// the data center cannot be reached, a kid of the last good set is still
// answered, and any other is an UnavailableError: nothing can be said
// about a key the guard could not look up.
func (i *issuer) VerificationKey(ctx context.Context, kid string) (token.PublicKey, error) {
	now := i.g.now()
	i.mu.Lock()
	key, known := i.keys[kid]
	fetched := !i.keysAt.IsZero()
	age := now.Sub(i.keysAt)
	if known && age < max(keysMaxAge, i.g.cooldown) {
		i.mu.Unlock()
		return key, nil
	}
	if wait, err := i.keysRetry.blocked(now); err != nil {
		i.mu.Unlock()
		if known {
			return key, nil
		}
		return token.PublicKey{}, i.unavailable(err, wait)
	}
	if !known && fetched && age < i.g.cooldown {
		i.mu.Unlock()
		return token.PublicKey{}, token.ErrUnknownKey
	}
	i.mu.Unlock()

	_, err := i.refreshes.Do(ctx, "", func() (struct{}, error) { return struct{}{}, i.refreshKeys(ctx) })
	i.mu.Lock()
	key, known = i.keys[kid]
	i.mu.Unlock()
	switch {
	case known:
		return key, nil
	case err != nil:
		return token.PublicKey{}, err
	default:
		return token.PublicKey{}, token.ErrUnknownKey
	}
}

// refreshKeys fetches the key set, unless a fetch that ended just before
// this one began makes it needless: it left a set fresh within the
// cooldown, or a backoff.
func (i *issuer) refreshKeys(ctx context.Context) error {
	now := i.g.now()
	i.mu.Lock()
	if !i.keysAt.IsZero() && now.Sub(i.keysAt) < i.g.cooldown {
		i.mu.Unlock()
		return nil
	}
	if wait, err := i.keysRetry.blocked(now); err != nil {
		i.mu.Unlock()
		return i.unavailable(err, wait)
	}
	i.mu.Unlock()

	var failure error
	// Recording the outcome inside run means Close waits for it too:
	// nothing is logged after Close returns.
	if !i.g.run(ctx, func(ctx context.Context) { failure = i.keysFetched(i.fetchKeys(ctx)) }) {
		return i.unavailable(ErrClosed, 0)
	}
	return failure
}

// keysFetched records the outcome of a JWKS fetch and turns a failure into
// the UnavailableError its waiters get.
func (i *issuer) keysFetched(keys map[string]token.PublicKey, err error) error {
	now := i.g.now()
	var failure error
	i.mu.Lock()
	if err == nil {
		i.keys, i.keysAt = keys, now
		i.keysRetry.succeeded()
	} else {
		failure = i.unavailable(err, i.keysRetry.failed(now, err))
	}
	i.mu.Unlock()
	if err != nil {
		i.g.log.Warn("gatehouse JWKS fetch failed", "issuer", i.cfg.URL, "err", err)
		return failure
	}
	i.g.log.Debug("gatehouse JWKS fetched", "issuer", i.cfg.URL, "keys", len(keys))
	return nil
}

// fetchKeys reads the JWKS and keeps the keys a Gatehouse token can be
// signed with (token.ParseJWK: RSA of at least 2048 bits for RS256,
// P-256 for ES256, Ed25519 for EdDSA, each for signing, with its own
// algorithm or none named). Other keys are skipped rather than failing the
// set, so a data center can publish keys for other uses beside ours.
func (i *issuer) fetchKeys(ctx context.Context) (map[string]token.PublicKey, error) {
	m, err := i.metadata(ctx)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := i.getJSON(ctx, m.jwksURI, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	keys := make(map[string]token.PublicKey, len(set.Keys))
	skipped := 0
	for _, raw := range set.Keys {
		kid, pub, ok := token.ParseJWK(raw)
		if !ok {
			skipped++
			continue
		}
		if _, dup := keys[kid]; dup {
			skipped++
			continue
		}
		keys[kid] = pub
	}
	if skipped > 0 {
		i.g.log.Debug("gatehouse JWKS: skipped keys that cannot sign access tokens", "issuer", i.cfg.URL, "skipped", skipped)
	}
	if len(keys) == 0 {
		// An empty set would refuse every token as signed by an unknown
		// key, blaming the tokens for the data center's fault.
		return nil, errors.New("JWKS: no key in the set can sign access tokens")
	}
	return keys, nil
}
