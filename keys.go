package gatehouse

import (
	"bytes"
	"fmt"
)

// KeySetChange is what a backend must write for UpdateSigningKeys: the keys
// to add, and the stored keys whose RetireAt changed (with the new RetireAt).
type KeySetChange struct {
	Added   []SigningKey
	Retired []SigningKey
}

// Empty reports whether the change writes nothing.
func (c KeySetChange) Empty() bool { return len(c.Added) == 0 && len(c.Retired) == 0 }

// DiffSigningKeys compares the key set an UpdateSigningKeys function was
// given with the one it returned, and says what to write. Both backends
// (and test doubles) apply its answer, so they agree on what a function may
// do: add keys and change a stored key's RetireAt, nothing else. A key is a
// secret that verifiers may hold on to, so a stored key is never edited or
// forgotten by a key-set update:
//
//   - a stored key missing from next fails with ErrInvalid;
//   - a key of next with a kid that is stored but with other material,
//     algorithm or times (RetireAt aside), or a kid twice in next, fails
//     with ErrConflict: the kid is taken;
//   - a new key without private key material fails with ErrInvalid.
//
// Errors name kids only, never key material.
func DiffSigningKeys(current, next []SigningKey) (KeySetChange, error) {
	stored := make(map[string]SigningKey, len(current))
	for _, k := range current {
		stored[k.ID] = k
	}
	var c KeySetChange
	seen := make(map[string]bool, len(next))
	for _, k := range next {
		if seen[k.ID] {
			return KeySetChange{}, fmt.Errorf("signing key %q: kid is taken: %w", k.ID, ErrConflict)
		}
		seen[k.ID] = true
		old, ok := stored[k.ID]
		if !ok {
			if len(k.PrivateKey) == 0 {
				return KeySetChange{}, fmt.Errorf("signing key %q: no private key: %w", k.ID, ErrInvalid)
			}
			c.Added = append(c.Added, k)
			continue
		}
		if old.Algorithm != k.Algorithm || !bytes.Equal(old.PrivateKey, k.PrivateKey) ||
			!old.CreatedAt.Equal(k.CreatedAt) || !old.ActiveAt.Equal(k.ActiveAt) {
			return KeySetChange{}, fmt.Errorf("signing key %q: kid is taken by another key: %w", k.ID, ErrConflict)
		}
		if !old.RetireAt.Equal(k.RetireAt) {
			c.Retired = append(c.Retired, k)
		}
	}
	for _, k := range current {
		if !seen[k.ID] {
			return KeySetChange{}, fmt.Errorf("signing key %q: a key-set update cannot remove a key: %w", k.ID, ErrInvalid)
		}
	}
	return c, nil
}

// CloneSigningKeys copies keys deeply. Backends hand an UpdateSigningKeys
// function a copy, so that it cannot change what its result is compared
// with.
func CloneSigningKeys(keys []SigningKey) []SigningKey {
	out := make([]SigningKey, len(keys))
	for i, k := range keys {
		k.PrivateKey = bytes.Clone(k.PrivateKey)
		out[i] = k
	}
	return out
}
