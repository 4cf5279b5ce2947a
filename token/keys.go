// Package token is the one place that knows JOSE: it mints access and ID
// tokens with the data center's signing keys and verifies bearer tokens, for
// the server's own routes and for the resource-server SDK alike.
package token

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse"
)

// Algorithm is the only signature algorithm Gatehouse signs with or accepts.
const Algorithm = jose.RS256

// KeyBits is the RSA modulus size of generated keys.
const KeyBits = 2048

// GenerateSigningKey makes a new RSA key for the key set. Its kid is the
// RFC 7638 thumbprint of the public key, so a kid can never name two keys.
func GenerateSigningKey(now time.Time) (gatehouse.SigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return gatehouse.SigningKey{}, fmt.Errorf("generate RSA key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return gatehouse.SigningKey{}, fmt.Errorf("encode RSA key: %w", err)
	}
	jwk := jose.JSONWebKey{Key: &priv.PublicKey}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return gatehouse.SigningKey{}, fmt.Errorf("thumbprint: %w", err)
	}
	now = now.UTC()
	return gatehouse.SigningKey{
		ID:         base64.RawURLEncoding.EncodeToString(tp),
		Algorithm:  string(Algorithm),
		PrivateKey: der,
		CreatedAt:  now,
		ActiveAt:   now,
	}, nil
}

// KeyRing holds the parsed key set. Load swaps the whole set atomically, so
// signing and verification never see half of an update and never lock.
type KeyRing struct {
	state atomic.Pointer[keyState]
	mu    sync.Mutex // serialises Load
}

type keyState struct {
	signing *signingKey // the signer as of Load; nil when no key may sign
	// signers holds every published key, newest ActiveAt first, so that the
	// key that signs is chosen at signing time: a key whose ActiveAt passes
	// between two loads starts signing at once, and the key it replaces
	// stops at once, which its retirement time counts on.
	signers []*signingKey
	public  map[string]*rsa.PublicKey
	jwks    jose.JSONWebKeySet
}

type signingKey struct {
	kid     string
	created time.Time
	active  time.Time
	access  jose.Signer // typ at+jwt
	id      jose.Signer // typ JWT
}

// ErrNoSigningKey means the key set holds no key that may sign now.
var ErrNoSigningKey = errors.New("no active signing key")

// Load replaces the key set with keys, as seen at now: keys not yet retired
// are published; the newest key whose ActiveAt has passed signs.
func (r *KeyRing) Load(keys []gatehouse.SigningKey, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &keyState{public: make(map[string]*rsa.PublicKey)}
	for i := range keys {
		k := &keys[i]
		if !k.RetireAt.IsZero() && !now.Before(k.RetireAt) {
			continue
		}
		if k.Algorithm != string(Algorithm) {
			return fmt.Errorf("signing key %s: unsupported algorithm %q", k.ID, k.Algorithm)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(k.PrivateKey)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		priv, ok := parsed.(*rsa.PrivateKey)
		if !ok {
			return fmt.Errorf("signing key %s: not an RSA key", k.ID)
		}
		st.public[k.ID] = &priv.PublicKey
		st.jwks.Keys = append(st.jwks.Keys, jose.JSONWebKey{
			Key:       &priv.PublicKey,
			KeyID:     k.ID,
			Algorithm: k.Algorithm,
			Use:       "sig",
		})
		sk, err := newSigningKey(k.ID, priv)
		if err != nil {
			return err
		}
		sk.created, sk.active = k.CreatedAt, k.ActiveAt
		st.signers = append(st.signers, sk)
	}
	sort.Slice(st.signers, func(i, j int) bool {
		a, b := st.signers[i], st.signers[j]
		if !a.active.Equal(b.active) {
			return a.active.After(b.active)
		}
		return a.kid > b.kid
	})
	st.signing = st.signerAt(now)
	r.state.Store(st)
	return nil
}

func newSigningKey(kid string, priv *rsa.PrivateKey) (*signingKey, error) {
	key := jose.SigningKey{Algorithm: Algorithm, Key: jose.JSONWebKey{Key: priv, KeyID: kid}}
	access, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return nil, fmt.Errorf("signer for %s: %w", kid, err)
	}
	id, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("signer for %s: %w", kid, err)
	}
	return &signingKey{kid: kid, access: access, id: id}, nil
}

// signerAt returns the key that signs at now: the newest already active.
func (st *keyState) signerAt(now time.Time) *signingKey {
	for _, sk := range st.signers {
		if !now.Before(sk.active) {
			return sk
		}
	}
	return nil
}

// SigningKeyIDAt returns the kid that signs tokens issued at now, or "".
func (r *KeyRing) SigningKeyIDAt(now time.Time) string {
	if sk := r.load().signerAt(now); sk != nil {
		return sk.kid
	}
	return ""
}

func (r *KeyRing) load() *keyState {
	if st := r.state.Load(); st != nil {
		return st
	}
	return &keyState{}
}

// JWKS returns the published public keys.
func (r *KeyRing) JWKS() jose.JSONWebKeySet { return r.load().jwks }

// SigningKeyID returns the kid that signs new tokens, or "".
func (r *KeyRing) SigningKeyID() string {
	if sk := r.load().signing; sk != nil {
		return sk.kid
	}
	return ""
}

// SigningKeyCreatedAt returns when the key that signs new tokens was
// created, or the zero time when none signs.
func (r *KeyRing) SigningKeyCreatedAt() time.Time {
	if sk := r.load().signing; sk != nil {
		return sk.created
	}
	return time.Time{}
}

// PublicKey returns the published key with the given kid.
func (r *KeyRing) PublicKey(kid string) (*rsa.PublicKey, bool) {
	k, ok := r.load().public[kid]
	return k, ok
}
