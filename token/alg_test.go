package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse"
)

// ringOf loads keys of the given algorithms, oldest first, each active an
// hour after the previous, and returns the ring and the keys.
func ringOf(t testing.TB, now time.Time, algs ...Algorithm) (*KeyRing, []gatehouse.SigningKey) {
	t.Helper()
	var keys []gatehouse.SigningKey
	for i, alg := range algs {
		k, err := GenerateSigningKey(alg, now.Add(time.Duration(i-len(algs))*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	ring := &KeyRing{}
	if err := ring.Load(keys, now); err != nil {
		t.Fatal(err)
	}
	return ring, keys
}

// Every algorithm signs access and ID tokens that carry it in the header,
// publishes a JWK of the matching type, and verifies its own tokens.
func TestAlgorithms(t *testing.T) {
	tests := []struct {
		alg     Algorithm
		kty     string
		crv     string
		members []string // public members the JWK must have
	}{
		{RS256, "RSA", "", []string{"n", "e"}},
		{ES256, "EC", "P-256", []string{"x", "y"}},
		{EdDSA, "OKP", "Ed25519", []string{"x"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.alg), func(t *testing.T) {
			now := time.Now()
			ring, keys := ringOf(t, now, tt.alg)
			is := &Issuer{URL: "https://dc.example/bc", Audience: "dc.example", TTL: time.Hour, Keys: ring}
			issued, err := is.Issue(context.Background(), gatehouse.Client{ID: "c1", TenantID: "t1"}, now)
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range []string{issued.AccessToken, issued.IDToken} {
				u, err := Parse(tok)
				if err != nil {
					t.Fatal(err)
				}
				if u.Header.Algorithm != string(tt.alg) || u.Header.KeyID != keys[0].ID {
					t.Errorf("header %+v, want alg %s kid %s", u.Header, tt.alg, keys[0].ID)
				}
			}
			v := &Verifier{Issuer: is.URL, Audience: is.Audience, Keys: ring}
			if c, err := v.Verify(context.Background(), issued.AccessToken, now); err != nil || c.ClientID != "c1" {
				t.Fatalf("Verify = %+v, %v", c, err)
			}

			b, err := json.Marshal(ring.JWKS())
			if err != nil {
				t.Fatal(err)
			}
			var set struct{ Keys []map[string]any }
			if err := json.Unmarshal(b, &set); err != nil || len(set.Keys) != 1 {
				t.Fatalf("JWKS %s: %v", b, err)
			}
			jwk := set.Keys[0]
			if jwk["kty"] != tt.kty || jwk["alg"] != string(tt.alg) || jwk["use"] != "sig" || jwk["kid"] != keys[0].ID {
				t.Errorf("JWK %v, want kty %s alg %s", jwk, tt.kty, tt.alg)
			}
			if tt.crv != "" && jwk["crv"] != tt.crv {
				t.Errorf("JWK crv %v, want %s", jwk["crv"], tt.crv)
			}
			for _, m := range tt.members {
				if _, ok := jwk[m].(string); !ok {
					t.Errorf("JWK lacks %q: %v", m, jwk)
				}
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := jwk[private]; ok {
					t.Errorf("JWK publishes private member %q", private)
				}
			}
			if got := ring.PublishedAlgorithms(now); !slices.Equal(got, []string{string(tt.alg)}) {
				t.Errorf("PublishedAlgorithms = %v", got)
			}
		})
	}
}

// A key binds its algorithm: a token is verified with the algorithm of the
// key its kid names, so re-labelling the header, or signing with another
// algorithm under a published kid, gets a token nowhere.
func TestAlgorithmBoundToKey(t *testing.T) {
	now := time.Now()
	ring, keys := ringOf(t, now, RS256, ES256, EdDSA)
	v := &Verifier{Issuer: "https://dc.example/bc", Audience: "dc.example", Keys: ring}
	claims := AccessClaims{
		Claims: jwt.Claims{Issuer: v.Issuer, Subject: "c1", Audience: jwt.Audience{v.Audience},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour))},
		ClientID: "c1",
	}
	sign := func(alg Algorithm, key any, kid string) string {
		t.Helper()
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
			(&jose.SignerOptions{}).WithType("at+jwt"))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(claims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	priv := func(k gatehouse.SigningKey) any {
		p, err := x509.ParsePKCS8PrivateKey(k.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	rsaKid, ecKid, edKid := keys[0].ID, keys[1].ID, keys[2].ID
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, otherEd, _ := ed25519.GenerateKey(rand.Reader)
	relabel := func(tok, alg string) string {
		parts := strings.Split(tok, ".")
		var h map[string]any
		if err := decodeSegment(parts[0], &h); err != nil {
			t.Fatal(err)
		}
		h["alg"] = alg
		hb, _ := json.Marshal(h)
		return base64.RawURLEncoding.EncodeToString(hb) + "." + parts[1] + "." + parts[2]
	}

	tests := []struct {
		name string
		tok  string
		ok   bool
	}{
		{"RS256 with the RSA key", sign(RS256, priv(keys[0]), rsaKid), true},
		{"ES256 with the P-256 key", sign(ES256, priv(keys[1]), ecKid), true},
		{"EdDSA with the Ed25519 key", sign(EdDSA, priv(keys[2]), edKid), true},
		{"ES256 by another key under the RSA kid", sign(ES256, otherEC, rsaKid), false},
		{"EdDSA by another key under the P-256 kid", sign(EdDSA, otherEd, ecKid), false},
		{"ES256 by another key under the P-256 kid", sign(ES256, otherEC, ecKid), false},
		{"EdDSA by another key under the Ed25519 kid", sign(EdDSA, otherEd, edKid), false},
		{"ES256 token relabelled RS256", relabel(sign(ES256, priv(keys[1]), ecKid), "RS256"), false},
		{"EdDSA token relabelled ES256", relabel(sign(EdDSA, priv(keys[2]), edKid), "ES256"), false},
		{"RS256 signature under the P-256 kid", sign(RS256, priv(keys[0]), ecKid), false},
		{"ES384 by another key", sign(jose.ES384, mustEC(t, elliptic.P384()), ecKid), false},
		{"PS256 with the RSA key", sign(jose.PS256, priv(keys[0]), rsaKid), false},
		{"HS256 keyed with the Ed25519 public key", sign(jose.HS256, []byte(priv(keys[2]).(ed25519.PrivateKey).Public().(ed25519.PublicKey)), edKid), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tt.tok, now)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ge *gatehouse.Error
			if !errors.As(err, &ge) || ge.Code != gatehouse.CodeTokenInvalid {
				t.Fatalf("Verify = %v, want tokenInvalid", err)
			}
		})
	}
}

func mustEC(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyFromJWK(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	p256 := mustEC(t, elliptic.P256())
	p384 := mustEC(t, elliptic.P384())
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name string
		jwk  jose.JSONWebKey
		want Algorithm // "" when the key must be skipped
	}{
		{"RSA, RS256", jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "k", Algorithm: "RS256", Use: "sig"}, RS256},
		{"RSA, no alg, no use", jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "k"}, RS256},
		{"P-256, ES256", jose.JSONWebKey{Key: &p256.PublicKey, KeyID: "k", Algorithm: "ES256", Use: "sig"}, ES256},
		{"P-256, no alg", jose.JSONWebKey{Key: &p256.PublicKey, KeyID: "k"}, ES256},
		{"Ed25519, EdDSA", jose.JSONWebKey{Key: edPub, KeyID: "k", Algorithm: "EdDSA", Use: "sig"}, EdDSA},
		{"Ed25519, no alg", jose.JSONWebKey{Key: edPub, KeyID: "k"}, EdDSA},
		{"RSA under 2048 bits", jose.JSONWebKey{Key: &smallRSA.PublicKey, KeyID: "k", Algorithm: "RS256"}, ""},
		{"RSA labelled ES256", jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "k", Algorithm: "ES256"}, ""},
		{"RSA labelled PS256", jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "k", Algorithm: "PS256"}, ""},
		{"P-256 labelled RS256", jose.JSONWebKey{Key: &p256.PublicKey, KeyID: "k", Algorithm: "RS256"}, ""},
		{"P-384", jose.JSONWebKey{Key: &p384.PublicKey, KeyID: "k", Algorithm: "ES384"}, ""},
		{"P-384 labelled ES256", jose.JSONWebKey{Key: &p384.PublicKey, KeyID: "k", Algorithm: "ES256"}, ""},
		{"Ed25519 labelled ES256", jose.JSONWebKey{Key: edPub, KeyID: "k", Algorithm: "ES256"}, ""},
		{"for encryption", jose.JSONWebKey{Key: &p256.PublicKey, KeyID: "k", Use: "enc"}, ""},
		{"no kid", jose.JSONWebKey{Key: edPub, Algorithm: "EdDSA"}, ""},
		{"a private key", jose.JSONWebKey{Key: edPriv, KeyID: "k", Algorithm: "EdDSA"}, ""},
		{"a symmetric key", jose.JSONWebKey{Key: []byte("secret"), KeyID: "k", Algorithm: "HS256"}, ""},
		{"nil RSA key", jose.JSONWebKey{Key: (*rsa.PublicKey)(nil), KeyID: "k"}, ""},
		{"RSA key without a modulus", jose.JSONWebKey{Key: &rsa.PublicKey{E: 65537}, KeyID: "k"}, ""},
		{"nil P-256 key", jose.JSONWebKey{Key: (*ecdsa.PublicKey)(nil), KeyID: "k"}, ""},
		{"short Ed25519 key", jose.JSONWebKey{Key: edPub[:16], KeyID: "k"}, ""},
		{"no key", jose.JSONWebKey{KeyID: "k"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := KeyFromJWK(tt.jwk)
			if ok != (tt.want != "") || got.Algorithm != tt.want {
				t.Errorf("KeyFromJWK = %v %v, want %q", got.Algorithm, ok, tt.want)
			}
		})
	}
}

// A stored key whose algorithm does not fit its type is refused at load,
// rather than signing under a header that lies about it.
func TestLoadRefusesMismatchedKey(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		gen   Algorithm
		label string
	}{{ES256, "RS256"}, {RS256, "ES256"}, {EdDSA, "ES256"}, {ES256, "EdDSA"}, {RS256, "PS256"}, {RS256, "none"}} {
		k, err := GenerateSigningKey(tt.gen, now)
		if err != nil {
			t.Fatal(err)
		}
		k.Algorithm = tt.label
		if err := (&KeyRing{}).Load([]gatehouse.SigningKey{k}, now); err == nil {
			t.Errorf("a %s key stored as %s was loaded", tt.gen, tt.label)
		}
	}
	if _, err := GenerateSigningKey("HS256", now); err == nil {
		t.Error("generated an HS256 key")
	}
}

// While a key of a new algorithm is published but not yet signing, both
// algorithms are listed, the signing one first.
func TestPublishedAlgorithmsDuringSwitch(t *testing.T) {
	now := time.Now()
	old, _ := GenerateSigningKey(RS256, now.Add(-time.Hour))
	next, _ := GenerateSigningKey(EdDSA, now)
	next.ActiveAt = now.Add(6 * time.Minute)
	ring := &KeyRing{}
	if err := ring.Load([]gatehouse.SigningKey{old, next}, now); err != nil {
		t.Fatal(err)
	}
	if got := ring.PublishedAlgorithms(now); !slices.Equal(got, []string{"RS256", "EdDSA"}) {
		t.Errorf("before the switch: %v", got)
	}
	// Without a reload: the signer is chosen at the time asked about.
	if got := ring.PublishedAlgorithms(next.ActiveAt); !slices.Equal(got, []string{"EdDSA", "RS256"}) {
		t.Errorf("after the switch: %v", got)
	}
}

// A request that ends while it waits for a CPU to sign on gets its
// context's error, and takes no slot of the queue with it.
func TestIssueQueueCanceled(t *testing.T) {
	now := time.Now()
	ring, _ := ringOf(t, now, RS256)
	is := &Issuer{URL: "https://dc.example/bc", Audience: "dc.example", TTL: time.Hour, Keys: ring}
	gate := is.gate()
	slots, _ := gate.state()
	for range slots {
		if err := gate.acquire(context.Background(), "busy"); err != nil { // every CPU busy
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := is.Issue(ctx, gatehouse.Client{ID: "c1", TenantID: "t1"}, now); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Issue with the queue full = %v, want the context's error", err)
	}
	if free, waiting := gate.state(); free != 0 || waiting != 0 {
		t.Fatalf("the canceled request changed the queue: %d free, %d waiting", free, waiting)
	}
	for range slots {
		gate.release()
	}
	if _, err := is.Issue(context.Background(), gatehouse.Client{ID: "c1", TenantID: "t1"}, now); err != nil {
		t.Fatal(err)
	}
	if free, _ := gate.state(); free != slots {
		t.Errorf("Issue kept %d slots", slots-free)
	}
}
