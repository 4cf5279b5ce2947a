package gatehouse

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// SecretBytes is the entropy of a generated client secret: 256 bits.
const SecretBytes = 32

// MinSecretLength is the shortest operator-chosen secret accepted: 43
// characters of the 66 URL-unreserved ones carry at least 256 bits only if
// chosen at random, and 43 is what 32 random bytes encode to, so a shorter
// secret is certainly weaker than the ones Gatehouse generates.
const MinSecretLength = 43

// MaxClientIDLength bounds operator-chosen client ids.
const MaxClientIDLength = 128

// NewSecret returns a fresh client secret: 256 bits from crypto/rand,
// base64url without padding, so only [A-Za-z0-9_-] appear and the secret
// travels unchanged through form encoding, Basic auth and shell quoting.
func NewSecret() string {
	b := make([]byte, SecretBytes)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+): it
	// crashes the program rather than return predictable bytes.
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// secretHashPrefix versions the stored hash so the scheme can change later
// without guessing which rows use which.
const secretHashPrefix = "hs256v1:"

// HashSecret returns the unpeppered (v1) form of a client's secret, as
// stored before secrets were keyed by the server (see SecretHasher, which
// stores every new secret); kept so those hashes still verify.
//
// A fast keyed hash (HMAC-SHA-256) is the right tool here, not a slow KDF
// such as bcrypt or argon2: slow KDFs exist to make guessing low-entropy
// human passwords expensive, but a generated secret has 256 bits of entropy,
// so no amount of hashing speed makes guessing it feasible. A slow KDF would
// only make every token request cost tens of milliseconds of CPU, which is
// what caps other servers at ~100 tokens/s per core. The client id is the
// HMAC key so that a hash copied onto another client's row does not verify.
func HashSecret(clientID, secret string) []byte {
	mac := hmac.New(sha256.New, []byte(secretHashPrefix+clientID))
	mac.Write([]byte(secret))
	return append([]byte(secretHashPrefix), mac.Sum(nil)...)
}

// SecretMatches reports, in constant time, whether secret is the one whose
// unpeppered (v1) hash is stored for the client.
func SecretMatches(clientID, secret string, stored []byte) bool {
	want := HashSecret(clientID, secret)
	// ConstantTimeCompare returns early only on a length mismatch, and the
	// length of an HMAC output reveals nothing.
	return subtle.ConstantTimeCompare(want, stored) == 1
}

// secretHashPrefixV2 marks hashes keyed by the server's secret-hash key.
const secretHashPrefixV2 = "hs256v2:"

// SecretHasher hashes client secrets under a server-side key (derived from
// the master key), as HMAC-SHA-256 of the client id and the secret. With
// the key kept out of the database, a dump of it gives nothing to test
// guesses against, even for an operator-chosen secret weaker than the
// generated ones.
type SecretHasher struct {
	key []byte
}

// NewSecretHasher returns a hasher keyed by key.
func NewSecretHasher(key []byte) *SecretHasher { return &SecretHasher{key: key} }

// Hash returns the stored form of a client's secret.
func (h *SecretHasher) Hash(clientID, secret string) []byte {
	mac := hmac.New(sha256.New, h.key)
	// The id is length-prefixed, so no (id, secret) pair hashes like another.
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(clientID)))
	mac.Write(n[:])
	mac.Write([]byte(clientID))
	mac.Write([]byte(secret))
	return append([]byte(secretHashPrefixV2), mac.Sum(nil)...)
}

// Matches reports, in constant time, whether secret is the client's. It
// also accepts hashes stored before secrets were keyed (v1), so that
// existing clients keep working; their next regeneration stores v2.
func (h *SecretHasher) Matches(clientID, secret string, stored []byte) bool {
	if bytes.HasPrefix(stored, []byte(secretHashPrefix)) {
		return SecretMatches(clientID, secret, stored)
	}
	return subtle.ConstantTimeCompare(h.Hash(clientID, secret), stored) == 1
}

// ValidateOperatorCredentials checks credentials an operator chose (the
// bootstrap client): only URL-unreserved characters, so clients that
// form-encode inside Basic (RFC 6749 2.3.1) and clients that do not send the
// same bytes; an id of 1 to 128 characters; a secret of at least 43.
func ValidateOperatorCredentials(id, secret string) error {
	if len(id) < 1 || len(id) > MaxClientIDLength {
		return fmt.Errorf("client id must have 1 to %d characters, it has %d", MaxClientIDLength, len(id))
	}
	if !unreserved(id) {
		return fmt.Errorf("client id may use only A-Z a-z 0-9 . _ ~ -")
	}
	if len(secret) < MinSecretLength {
		return fmt.Errorf("client secret must have at least %d characters (256 bits), it has %d", MinSecretLength, len(secret))
	}
	if !unreserved(secret) {
		return fmt.Errorf("client secret may use only A-Z a-z 0-9 . _ ~ -")
	}
	// Length alone does not make a secret strong: 43 times the same letter
	// passes it. A random secret of this alphabet has about 30 distinct
	// characters; fewer than 16 means it was not chosen at random.
	if distinct(secret) < minDistinct {
		return fmt.Errorf("client secret must be random: it uses only %d distinct characters, at least %d are needed (try: openssl rand -base64 32 | tr '+/' '-_' | tr -d =)", distinct(secret), minDistinct)
	}
	return nil
}

const minDistinct = 16

func distinct(s string) int {
	var seen [256]bool
	n := 0
	for i := 0; i < len(s); i++ {
		if !seen[s[i]] {
			seen[s[i]] = true
			n++
		}
	}
	return n
}

func unreserved(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9',
			c == '.', c == '_', c == '~', c == '-':
		default:
			return false
		}
	}
	return true
}
