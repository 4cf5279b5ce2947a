// Package keycrypt seals private signing keys at rest under a master key, so
// that a dump of the database alone cannot sign tokens.
//
// A sealed key is
//
//	"ghk1:" | fingerprint of the master key (8 bytes) | nonce (12) | AES-256-GCM ciphertext and tag (16)
//
// The version prefix lets a reader tell a sealed key from a plaintext PKCS #8
// one (DER starts with 0x30) and lets the format change later. The
// fingerprint lets Open report "this was sealed under another master key"
// instead of "this is corrupt", which is the difference between an operator
// who configured the wrong key and one whose database is damaged. The kid is
// bound in as additional authenticated data, so a ciphertext copied onto
// another key's row does not open.
package keycrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// secretHashInfo separates the client-secret hashing key from every other
// use of the master key (HKDF info).
const secretHashInfo = "gatehouse/keycrypt/v1 client secret hmac"

// SecretHashKey returns the key client secrets are hashed under: derived
// from the master key, never the master key itself.
func (s *Sealer) SecretHashKey() []byte { return bytes.Clone(s.secretKey) }

// KeySize is the size of a master key: AES-256.
const KeySize = 32

// Errors Open returns, wrapped with detail; test them with errors.Is.
var (
	// ErrWrongMasterKey: the key was sealed under a different master key. The
	// stored key is most likely intact; the configuration is wrong.
	ErrWrongMasterKey = errors.New("wrong master key")
	// ErrCorrupt: the sealed bytes are damaged, truncated, not in the sealed
	// format, or belong to another kid.
	ErrCorrupt = errors.New("sealed key is corrupt")
)

const (
	version         = "ghk1:"
	fingerprintSize = 8
	headerSize      = len(version) + fingerprintSize
	// aadContext separates these ciphertexts from any other use of the same
	// master key. It ends in NUL and the kid follows it last, so no two
	// (context, kid) pairs produce the same AAD.
	aadContext = "gatehouse/keycrypt/v1 signing key\x00"
	// fingerprintContext is hashed before the key so that the fingerprint
	// stored next to every ciphertext is not a plain hash of the key that
	// some other system might also publish.
	fingerprintContext = "gatehouse/keycrypt/v1 master key fingerprint\x00"
)

// Sealer encrypts and decrypts signing keys under one master key. It is safe
// for concurrent use: the AEAD holds no state that Seal or Open changes.
type Sealer struct {
	aead cipher.AEAD
	fp   [fingerprintSize]byte
	// secretKey keys the hash of client secrets, derived from the master
	// key so that hashes in a database dump cannot be tested offline.
	secretKey []byte
}

// NewSealer returns a Sealer for a 32-byte master key. It does not keep key:
// the caller may clear it afterwards.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("master key must be %d bytes, it is %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	// Random 96-bit nonces, generated and prepended by the standard library
	// itself, so no caller can reuse one. The 2^32-messages bound of random
	// nonces is far beyond the handful of signing keys a data center seals.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	secretKey, err := hkdf.Key(sha256.New, key, nil, secretHashInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	s := &Sealer{aead: aead, secretKey: secretKey}
	h := sha256.New()
	h.Write([]byte(fingerprintContext))
	h.Write(key)
	copy(s.fp[:], h.Sum(nil))
	return s, nil
}

// Fingerprint identifies the master key in logs and error messages (16 hex
// digits). It reveals nothing useful about the key, so operators can compare
// it across replicas to check that they all use the same one.
func (s *Sealer) Fingerprint() string { return hex.EncodeToString(s.fp[:]) }

// Seal encrypts the private key of the signing key kid. Every call uses a
// fresh nonce, so sealing the same key twice gives different bytes.
func (s *Sealer) Seal(kid string, plaintext []byte) ([]byte, error) {
	if kid == "" {
		// An empty kid would still work, but it means the caller bound the
		// ciphertext to nothing, which is a bug worth surfacing.
		return nil, errors.New("seal: empty kid")
	}
	out := make([]byte, 0, headerSize+len(plaintext)+s.aead.Overhead())
	out = append(out, version...)
	out = append(out, s.fp[:]...)
	return s.aead.Seal(out, nil, plaintext, aad(kid)), nil
}

// Open decrypts a key sealed for kid. It fails with ErrWrongMasterKey when the
// key was sealed under another master key, and with ErrCorrupt when the bytes
// are not a sealed key or do not authenticate (damaged, or sealed for another
// kid).
func (s *Sealer) Open(kid string, sealed []byte) ([]byte, error) {
	if !IsSealed(sealed) {
		return nil, fmt.Errorf("%w: not in the sealed format", ErrCorrupt)
	}
	if len(sealed) < headerSize+s.aead.Overhead() {
		return nil, fmt.Errorf("%w: truncated (%d bytes)", ErrCorrupt, len(sealed))
	}
	fp := sealed[len(version):headerSize]
	if !bytes.Equal(fp, s.fp[:]) {
		return nil, fmt.Errorf("%w: sealed under master key %x, but the configured one is %s",
			ErrWrongMasterKey, fp, s.Fingerprint())
	}
	plain, err := s.aead.Open(nil, nil, sealed[headerSize:], aad(kid))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed (damaged, or sealed for another kid)", ErrCorrupt)
	}
	return plain, nil
}

// IsSealed reports whether b is in the sealed format, as opposed to a
// plaintext PKCS #8 key stored before encryption at rest, which starts with
// the DER SEQUENCE tag 0x30 and so can never start with the prefix.
func IsSealed(b []byte) bool { return bytes.HasPrefix(b, []byte(version)) }

func aad(kid string) []byte {
	return append([]byte(aadContext), kid...)
}
