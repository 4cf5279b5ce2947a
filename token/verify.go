package token

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse"
)

// MaxTokenLength bounds the bearer tokens Gatehouse will look at. Ours are
// about 1 KiB; anything over 8 KiB is refused before any parsing.
const MaxTokenLength = 8 << 10

// ErrUnknownKey is returned by a KeySource that has no key with a kid.
var ErrUnknownKey = errors.New("unknown key id")

// KeySource finds a verification key by kid. The server's own KeyRing is
// one; a resource server's JWKS cache is another.
type KeySource interface {
	VerificationKey(ctx context.Context, kid string) (PublicKey, error)
}

// VerificationKey implements KeySource.
func (r *KeyRing) VerificationKey(_ context.Context, kid string) (PublicKey, error) {
	if k, ok := r.PublicKey(kid); ok {
		return k, nil
	}
	return PublicKey{}, ErrUnknownKey
}

// Header is the part of a JOSE header the checks read.
type Header struct {
	Algorithm string `json:"alg"`
	KeyID     any    `json:"kid"` // any: a non-string kid is invalid, not malformed
	Type      string `json:"typ"`
	// Crit and B64 are never set on tokens Gatehouse issues; present, they
	// would change how the signature is computed (RFC 7797), so a token
	// carrying them is refused before any library interprets them.
	Crit any `json:"crit"`
	B64  any `json:"b64"`
}

// Unverified is a token split and decoded but not yet trusted.
type Unverified struct {
	Raw    string
	Header Header
	Issuer string
}

// Parse splits a compact JWS and decodes its header and the issuer claim,
// without checking anything cryptographic. Failures are tokenMalformed.
func Parse(raw string) (*Unverified, error) {
	if len(raw) > MaxTokenLength {
		return nil, fail(gatehouse.CodeTokenMalformed, "The token is too long.")
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fail(gatehouse.CodeTokenMalformed, "The token is not a signed JWT.")
	}
	var u Unverified
	u.Raw = raw
	if err := decodeSegment(parts[0], &u.Header); err != nil {
		return nil, fail(gatehouse.CodeTokenMalformed, "The token header cannot be decoded.")
	}
	var claims struct {
		Issuer any `json:"iss"`
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return nil, fail(gatehouse.CodeTokenMalformed, "The token claims cannot be decoded.")
	}
	iss, ok := claims.Issuer.(string)
	if !ok {
		return nil, fail(gatehouse.CodeTokenMalformed, "The token has no issuer.")
	}
	u.Issuer = iss
	return &u, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// Verifier checks access tokens of one issuer.
type Verifier struct {
	Issuer   string
	Audience string
	Keys     KeySource
	// Leeway is the allowed clock skew for exp, nbf and iat.
	Leeway time.Duration
}

// Verify runs the checks that need no client state, in the platform's order,
// and answers the first failure as a *gatehouse.Error with its bearer code:
// malformed → issuer → algorithm, typ, kid, signature, audience → expiry.
func (v *Verifier) Verify(ctx context.Context, raw string, now time.Time) (*AccessClaims, error) {
	u, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Issuer != v.Issuer {
		return nil, fail(gatehouse.CodeTokenIssuerMismatch,
			"The token was issued by %s, not by this data center (issuer %s).", QuoteUntrusted(u.Issuer), v.Issuer)
	}
	return v.VerifyParsed(ctx, u, now)
}

// VerifyParsed is Verify for a token whose issuer the caller has already
// matched to this verifier.
func (v *Verifier) VerifyParsed(ctx context.Context, u *Unverified, now time.Time) (*AccessClaims, error) {
	alg, err := ParseAlgorithm(u.Header.Algorithm)
	if err != nil {
		return nil, fail(gatehouse.CodeTokenInvalid, "The token is not signed with an algorithm Gatehouse accepts (RS256, ES256, EdDSA).")
	}
	if u.Header.Crit != nil || u.Header.B64 != nil {
		return nil, fail(gatehouse.CodeTokenInvalid, "The token uses header parameters Gatehouse does not issue.")
	}
	if !strings.EqualFold(u.Header.Type, "at+jwt") && !strings.EqualFold(u.Header.Type, "application/at+jwt") {
		return nil, fail(gatehouse.CodeTokenInvalid, "The token is not an access token.")
	}
	kid, ok := u.Header.KeyID.(string)
	if !ok || kid == "" {
		return nil, fail(gatehouse.CodeTokenInvalid, "The token names no signing key.")
	}
	key, err := v.Keys.VerificationKey(ctx, kid)
	if errors.Is(err, ErrUnknownKey) {
		return nil, fail(gatehouse.CodeTokenInvalid, "The token is signed with an unknown key.")
	}
	if err != nil {
		return nil, err // the key source is unavailable: not the token's fault
	}
	if key.Algorithm != alg {
		// The header does not choose how a key is used: an RSA key
		// verifies RS256 and nothing else.
		return nil, fail(gatehouse.CodeTokenInvalid, "The token's algorithm is not the one its signing key signs with.")
	}
	jws, err := jose.ParseSignedCompact(u.Raw, []jose.SignatureAlgorithm{alg})
	if err != nil {
		return nil, fail(gatehouse.CodeTokenMalformed, "The token cannot be parsed.")
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return nil, fail(gatehouse.CodeTokenInvalid, "The token signature is invalid.")
	}
	var c AccessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fail(gatehouse.CodeTokenInvalid, "The token claims are not valid.")
	}
	if c.Expiry == nil {
		return nil, fail(gatehouse.CodeTokenInvalid, "The token has no expiry.")
	}
	if c.Subject == "" || c.ClientID == "" || c.Subject != c.ClientID {
		return nil, fail(gatehouse.CodeTokenInvalid, "The token does not name an API client.")
	}
	if !c.Audience.Contains(v.Audience) {
		return nil, fail(gatehouse.CodeTokenInvalid, "The token is meant for another audience.")
	}
	switch err := c.Claims.ValidateWithLeeway(jwt.Expected{Time: now}, v.Leeway); {
	case err == nil:
	case errors.Is(err, jwt.ErrExpired):
		return nil, fail(gatehouse.CodeTokenExpired, "The access token has expired.")
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, fail(gatehouse.CodeTokenInvalid, "The token is not valid yet.")
	default:
		return nil, fail(gatehouse.CodeTokenInvalid, "The token claims are not valid.")
	}
	return &c, nil
}

func fail(code, format string, args ...any) error {
	return gatehouse.Errorf(gatehouse.ErrUnauthenticated, code, format, args...)
}

// QuoteUntrusted shows an untrusted string (a token's issuer) in a message:
// bounded and quoted, so a hostile token cannot stuff the answer or a log.
func QuoteUntrusted(s string) string {
	const max = 200
	if len(s) > max {
		s = s[:max] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}
