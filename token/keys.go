// Package token is the one place that knows JOSE: it mints access and ID
// tokens with the data center's signing keys and verifies bearer tokens, for
// the server's own routes and for the resource-server SDK alike.
package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse"
)

// Algorithm is a JWS signature algorithm, as named in a JOSE header.
type Algorithm = jose.SignatureAlgorithm

// The algorithms a data center can sign with.
const (
	RS256 = jose.RS256 // RSASSA-PKCS1-v1_5 with SHA-256, RSA-2048
	ES256 = jose.ES256 // ECDSA with P-256 and SHA-256
	EdDSA = jose.EdDSA // Ed25519
)

// DefaultAlgorithm is what a data center signs with unless configured
// otherwise: RS256, the platform's, which every client library verifies.
const DefaultAlgorithm = RS256

// Algorithms are the signature algorithms Gatehouse signs with and accepts,
// each bound to one key type: RS256 to RSA keys of at least KeyBits bits,
// ES256 to P-256 keys, EdDSA to Ed25519 keys. A token is verified only with
// the algorithm of the key its kid names, never the one its header asks for
// alone, so no token can make an RSA key verify as anything else.
//
// It returns a fresh slice: the set is fixed, and no caller can change
// what another accepts by editing it.
func Algorithms() []Algorithm { return []Algorithm{RS256, ES256, EdDSA} }

// KeyBits is the RSA modulus size of generated keys, and the smallest
// accepted from a JWKS.
const KeyBits = 2048

// ParseAlgorithm returns the supported algorithm named s, exactly as
// spelled in a JOSE header.
func ParseAlgorithm(s string) (Algorithm, error) {
	for _, a := range Algorithms() {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("signature algorithm %q: want RS256, ES256 or EdDSA", s)
}

// PublicKey is a verification key and the one algorithm it verifies.
type PublicKey struct {
	// Key is an *rsa.PublicKey, an *ecdsa.PublicKey on P-256, or an
	// ed25519.PublicKey.
	Key       crypto.PublicKey
	Algorithm jose.SignatureAlgorithm
}

// KeyFromJWK returns the verification key a JWKS entry publishes, or false
// if Gatehouse's tokens cannot be signed with it: a key for another use, of
// another type or curve, RSA under KeyBits, or with an "alg" that does not
// fit its type. A missing "alg" is inferred from the key type.
func KeyFromJWK(k jose.JSONWebKey) (PublicKey, bool) {
	if k.KeyID == "" || (k.Use != "" && k.Use != "sig") || !k.IsPublic() {
		return PublicKey{}, false
	}
	var alg jose.SignatureAlgorithm
	// Keys built in code rather than parsed from JSON can be nil or
	// short; checked here so that verification never meets one.
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if pub == nil || pub.N == nil || pub.N.BitLen() < KeyBits || pub.E < 3 {
			return PublicKey{}, false
		}
		alg = jose.RS256
	case *ecdsa.PublicKey:
		if pub == nil || pub.Curve != elliptic.P256() || pub.X == nil || pub.Y == nil {
			return PublicKey{}, false
		}
		alg = jose.ES256
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return PublicKey{}, false
		}
		alg = jose.EdDSA
	default:
		return PublicKey{}, false
	}
	if k.Algorithm != "" && k.Algorithm != string(alg) {
		return PublicKey{}, false
	}
	return PublicKey{Key: k.Key, Algorithm: alg}, true
}

// ParseJWK reads one entry of a JWKS document and returns its kid and the
// verification key it publishes, or false if it is malformed or, as
// KeyFromJWK says, cannot sign Gatehouse's tokens. Resource servers use it
// so that the rules for a usable key live here only.
func ParseJWK(raw []byte) (kid string, key PublicKey, ok bool) {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(raw); err != nil {
		return "", PublicKey{}, false
	}
	key, ok = KeyFromJWK(k)
	if !ok {
		return "", PublicKey{}, false
	}
	return k.KeyID, key, true
}

// GenerateSigningKey makes a new key for the key set, of the type alg
// signs with. Its kid is the RFC 7638 thumbprint of the public key, so a
// kid can never name two keys.
func GenerateSigningKey(alg Algorithm, now time.Time) (gatehouse.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, KeyBits)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		_, err = ParseAlgorithm(string(alg))
	}
	if err != nil {
		return gatehouse.SigningKey{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return gatehouse.SigningKey{}, fmt.Errorf("encode %s key: %w", alg, err)
	}
	jwk := jose.JSONWebKey{Key: priv.Public()}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return gatehouse.SigningKey{}, fmt.Errorf("thumbprint: %w", err)
	}
	now = now.UTC()
	return gatehouse.SigningKey{
		ID:         base64.RawURLEncoding.EncodeToString(tp),
		Algorithm:  string(alg),
		PrivateKey: der,
		CreatedAt:  now,
		ActiveAt:   now,
	}, nil
}

// parsePrivateKey opens a stored key and checks that it is of the type its
// algorithm signs with.
func parsePrivateKey(k *gatehouse.SigningKey) (crypto.Signer, jose.SignatureAlgorithm, error) {
	alg, err := ParseAlgorithm(k.Algorithm)
	if err != nil {
		return nil, "", fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(k.PrivateKey)
	if err != nil {
		return nil, "", fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, "", fmt.Errorf("signing key %s: not a signing key", k.ID)
	}
	pub, ok := KeyFromJWK(jose.JSONWebKey{Key: priv.Public(), KeyID: k.ID})
	if !ok || pub.Algorithm != alg {
		return nil, "", fmt.Errorf("signing key %s: a %T cannot sign %s", k.ID, priv, alg)
	}
	return priv, alg, nil
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
	public  map[string]PublicKey
	jwks    jose.JSONWebKeySet
}

type signingKey struct {
	kid     string
	alg     jose.SignatureAlgorithm
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
	st := &keyState{public: make(map[string]PublicKey)}
	for i := range keys {
		k := &keys[i]
		if !k.RetireAt.IsZero() && !now.Before(k.RetireAt) {
			continue
		}
		priv, alg, err := parsePrivateKey(k)
		if err != nil {
			return err
		}
		st.public[k.ID] = PublicKey{Key: priv.Public(), Algorithm: alg}
		st.jwks.Keys = append(st.jwks.Keys, jose.JSONWebKey{
			Key:       priv.Public(),
			KeyID:     k.ID,
			Algorithm: string(alg),
			Use:       "sig",
		})
		sk, err := newSigningKey(k.ID, alg, priv)
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

func newSigningKey(kid string, alg jose.SignatureAlgorithm, priv crypto.Signer) (*signingKey, error) {
	sk := jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: kid}}
	access, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return nil, fmt.Errorf("signer for %s: %w", kid, err)
	}
	id, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("signer for %s: %w", kid, err)
	}
	return &signingKey{kid: kid, alg: alg, access: access, id: id}, nil
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

// NextSigningKey returns the published key that starts signing soonest
// after now, and when; false if none is yet to start. When no key signs at
// now, it says how long until one does.
func (r *KeyRing) NextSigningKey(now time.Time) (kid string, activeAt time.Time, ok bool) {
	// signers are newest ActiveAt first: the last one still after now.
	for _, sk := range r.load().signers {
		if !now.Before(sk.active) {
			break
		}
		kid, activeAt, ok = sk.kid, sk.active, true
	}
	return kid, activeAt, ok
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
func (r *KeyRing) PublicKey(kid string) (PublicKey, bool) {
	k, ok := r.load().public[kid]
	return k, ok
}

// PublishedAlgorithms returns the algorithms of the published keys, the
// one that signs at now first: what discovery lists as supported, so
// verifiers that pin algorithms accept a key rotated in under a new one.
func (r *KeyRing) PublishedAlgorithms(now time.Time) []string {
	st := r.load()
	var out []string
	if sk := st.signerAt(now); sk != nil {
		out = append(out, string(sk.alg))
	}
	for _, sk := range st.signers {
		if !slices.Contains(out, string(sk.alg)) {
			out = append(out, string(sk.alg))
		}
	}
	return out
}
