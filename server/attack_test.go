package server_test

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/server"
)

// The attack catalogue: the attacks the OAuth and JWT worlds already know
// (RFC 6749 §10, RFC 6819, RFC 8725, the JWT-library CVEs), thrown at a
// running data center, each with the exact answer Gatehouse documents.
//
// Bearer tokens are refused with 401 and the code of the first failed check
// in token.Verify's documented order (README "The API"):
//
//	tokenMalformed      over 8 KiB (refused unparsed), not three segments,
//	                    a header or claims segment that is not base64url
//	                    JSON, no string iss, or a JWS the strict JOSE parser
//	                    refuses (e.g. duplicate header members)
//	tokenIssuerMismatch another issuer
//	tokenInvalid        alg is not RS256, a crit or b64 member (never in
//	                    tokens Gatehouse mints), typ is not at+jwt, kid
//	                    missing or unknown, bad signature,
//	                    claims not valid JSON claims, no exp, no client, aud
//	                    not this data center, not valid yet
//	tokenExpired        exp passed (beyond the leeway)
//
// Requests to the IdP endpoints (token, introspection, revocation) are
// refused with RFC 6749 5.2 errors: 400 invalid_request for a request that
// is malformed whoever sends it (repeated parameters, two authentication
// methods, credentials in the URL), 401 invalid_client for any failed or
// unparsable client authentication, with one answer for all of them so
// that none tells an attacker which part was wrong.
//
// Every case also checks that nothing answers 5xx, and at the end that no
// secret or token used here reached the log, and that no header made the
// server fetch anything.
func TestAttackCatalogue(t *testing.T) {
	d := newDC(t, testdc.Options{})

	// Where jku and x5u point: any hit means the server fetched a key (or
	// a certificate) named by the token itself, which would let the token's
	// author choose the key it is checked with.
	var fetched atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.WriteHeader(http.StatusNotFound)
	}))
	defer attacker.Close()

	// victim authenticates with client_secret_basic, poster with
	// client_secret_post: the client-authentication cases use them, never
	// the admin, whose credentials the bearer cases need.
	_, victim := d.CreateClient(api.CreateClientRequest{})
	_, poster := d.CreateClient(api.CreateClientRequest{TokenEndpointAuthMethod: "client_secret_post"})
	adminAuth := testkit.Basic(d.Admin.ID, d.Admin.Secret)

	issued := d.Token(d.Admin)
	good := issued.AccessToken
	parts := strings.Split(good, ".")
	kid, key := d.SigningKey()
	_, claims := decodeJWT(t, good)

	// sensitive collects every secret and token this test sends; none may
	// appear in the log.
	sensitive := map[string]string{
		"admin secret": d.Admin.Secret, "victim secret": victim.Secret, "poster secret": poster.Secret,
		"access token": good, "access token signature": parts[2], "ID token": issued.IDToken,
	}

	// The attacker's own RSA key: what a token that carries its key (jwk)
	// or points to it (jku, x5u) is really signed with.
	evil, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	evilJWK := jose.JSONWebKey{Key: &evil.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}

	pkix, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
	publicJWK, err := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}

	// header builds a JOSE header: the real one (RS256, at+jwt, the real
	// kid) with some members changed; a nil value removes a member.
	header := func(change map[string]any) []byte {
		h := map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": kid}
		for k, v := range change {
			if v == nil {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// payload is the real token's claims with some changed; nil removes.
	payload := func(change map[string]any) []byte {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		for k, v := range change {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	enc := base64.RawURLEncoding.EncodeToString
	// withSig joins a header and claims with a signature segment as is.
	withSig := func(h, c []byte, sig string) string { return enc(h) + "." + enc(c) + "." + sig }
	// rs256 signs header and claims exactly as given, bytes and all, so a
	// case can send a header no JOSE library would produce (duplicate
	// members) and still carry a valid signature.
	rs256 := func(k *rsa.PrivateKey, h, c []byte) string {
		signing := enc(h) + "." + enc(c)
		sum := sha256.Sum256([]byte(signing))
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return signing + "." + enc(sig)
	}
	hs256 := func(secret, h, c []byte) string {
		signing := enc(h) + "." + enc(c)
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(signing))
		return signing + "." + enc(mac.Sum(nil))
	}
	realClaims := payload(nil)

	hostileKid10K := strings.Repeat("A", 10<<10)
	const crlfMarker = "X-Gatehouse-Injected"

	bearerCases := []struct {
		name  string
		token string
		code  string // "" for the controls, which must be accepted
	}{
		// Controls: the real token, and the real claims signed by this
		// test's own JWS code, are accepted. So every refusal below is
		// due to the one thing its case changed, not to the test's signer.
		{"control: the issued token", good, ""},
		{"control: re-signed by the test", rs256(key, header(nil), realClaims), ""},

		// alg none (CVE-2015-9235 and kin), every spelling, with and
		// without a signature: alg is checked before anything else of
		// the header, and only RS256 passes.
		{"alg none, no signature", withSig(header(map[string]any{"alg": "none"}), realClaims, ""), "tokenInvalid"},
		{"alg None, no signature", withSig(header(map[string]any{"alg": "None"}), realClaims, ""), "tokenInvalid"},
		{"alg NONE, no signature", withSig(header(map[string]any{"alg": "NONE"}), realClaims, ""), "tokenInvalid"},
		{"alg nOnE, no signature", withSig(header(map[string]any{"alg": "nOnE"}), realClaims, ""), "tokenInvalid"},
		{"alg none, real signature", withSig(header(map[string]any{"alg": "none"}), realClaims, parts[2]), "tokenInvalid"},
		{"alg None, real signature", withSig(header(map[string]any{"alg": "None"}), realClaims, parts[2]), "tokenInvalid"},
		{"alg NONE, real signature", withSig(header(map[string]any{"alg": "NONE"}), realClaims, parts[2]), "tokenInvalid"},
		{"alg nOnE, real signature", withSig(header(map[string]any{"alg": "nOnE"}), realClaims, parts[2]), "tokenInvalid"},
		{"alg none, no kid, no signature", withSig(header(map[string]any{"alg": "none", "kid": nil}), realClaims, ""), "tokenInvalid"},

		// Algorithm confusion (CVE-2016-10555): HMAC keyed with the public
		// key, which the attacker has from the JWKS.
		{"HS256 keyed with the public key as PEM", hs256(publicPEM, header(map[string]any{"alg": "HS256"}), realClaims), "tokenInvalid"},
		{"HS256 keyed with the public key as JWK JSON", hs256(publicJWK, header(map[string]any{"alg": "HS256"}), realClaims), "tokenInvalid"},
		{"HS256 keyed with the public key as DER", hs256(pkix, header(map[string]any{"alg": "HS256"}), realClaims), "tokenInvalid"},

		// Signatures removed. An empty third segment is a JWS with an
		// empty signature, which fails verification; a token without
		// three segments is not a JWS at all.
		{"RS256, empty signature (three segments)", parts[0] + "." + parts[1] + ".", "tokenInvalid"},
		{"RS256, signature stripped (two segments)", parts[0] + "." + parts[1], "tokenMalformed"},
		{"RS256, signature stripped, dot kept twice (four segments)", parts[0] + "." + parts[1] + "..", "tokenMalformed"},
		{"RS256, all-zero signature", withSig(header(nil), realClaims, enc(make([]byte, 256))), "tokenInvalid"},

		// ES256 with an all-zero signature on the RSA kid (the
		// "psychic signatures" CVE-2022-21449 shape): refused on alg.
		{"ES256 zero signature on the RSA kid", withSig(header(map[string]any{"alg": "ES256"}), realClaims, enc(make([]byte, 64))), "tokenInvalid"},

		// Keys named by the token itself (RFC 8725 3.10, CVE-2018-0114):
		// an embedded jwk is ignored, so the signature is checked with
		// the data center's key and fails; jku and x5u are never fetched
		// (see fetched below), so an attacker kid stays unknown.
		{"embedded jwk, real kid, signed with the jwk", rs256(evil, header(map[string]any{"jwk": evilJWK}), realClaims), "tokenInvalid"},
		{"embedded jwk, its own kid, signed with the jwk", rs256(evil, header(map[string]any{"jwk": jose.JSONWebKey{Key: &evil.PublicKey, KeyID: "evil", Algorithm: "RS256"}, "kid": "evil"}), realClaims), "tokenInvalid"},
		{"jku, attacker kid", rs256(evil, header(map[string]any{"jku": attacker.URL + "/jwks.json", "kid": "evil"}), realClaims), "tokenInvalid"},
		{"jku, real kid, signed by the attacker", rs256(evil, header(map[string]any{"jku": attacker.URL + "/jwks.json"}), realClaims), "tokenInvalid"},
		{"x5u, attacker kid", rs256(evil, header(map[string]any{"x5u": attacker.URL + "/cert.pem", "kid": "evil"}), realClaims), "tokenInvalid"},
		{"x5u, real kid, signed by the attacker", rs256(evil, header(map[string]any{"x5u": attacker.URL + "/cert.pem"}), realClaims), "tokenInvalid"},

		// crit (RFC 7515 4.1.11): a token that needs an extension the
		// verifier does not know must be refused, even with a valid
		// signature; Gatehouse's tokens carry no crit at all.
		{"crit with an unknown extension, validly signed", rs256(key, header(map[string]any{"crit": []string{"x-unknown"}, "x-unknown": true}), realClaims), "tokenInvalid"},
		{"crit naming an absent member, validly signed", rs256(key, header(map[string]any{"crit": []string{"x-absent"}}), realClaims), "tokenInvalid"},
		{"crit with an unknown extension, real signature", withSig(header(map[string]any{"crit": []string{"x-unknown"}, "x-unknown": true}), realClaims, parts[2]), "tokenInvalid"},

		// b64:false (RFC 7797): the payload is signed unencoded. As the
		// RFC defines it, the unencoded JSON claims (with the dots of
		// the issuer URL) sit in the token, so it does not split into
		// three segments.
		{"b64 false with crit, unencoded payload (RFC 7797)", func() string {
			h := header(map[string]any{"b64": false, "crit": []string{"b64"}})
			signing := enc(h) + "." + string(realClaims)
			sum := sha256.Sum256([]byte(signing))
			sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
			return signing + "." + enc(sig)
		}(), "tokenMalformed"},
		// The encoded claims with b64:false: the real signature no longer
		// matches (the header changed, and the signing input is read
		// differently), with or without crit.
		{"b64 false with crit, real signature", withSig(header(map[string]any{"b64": false, "crit": []string{"b64"}}), realClaims, parts[2]), "tokenInvalid"},
		{"b64 false without crit, real signature", withSig(header(map[string]any{"b64": false}), realClaims, parts[2]), "tokenInvalid"},
		// Signed by the data center's own key over the unencoded claims
		// but sent encoded: the one shape a b64-aware verifier accepts.
		// Gatehouse never mints b64:false, and crit is refused whatever it
		// names, so this too must be refused (RFC 8725 3.11: accept only
		// the token shape you issue).
		{"b64 false with crit, encoded payload signed unencoded", func() string {
			h := header(map[string]any{"b64": false, "crit": []string{"b64"}})
			signing := enc(h) + "." + string(realClaims)
			sum := sha256.Sum256([]byte(signing))
			sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
			return enc(h) + "." + enc(realClaims) + "." + enc(sig)
		}(), "tokenInvalid"},

		// Hostile kid values: a kid is looked up in the key ring, never
		// used as a path, a query or a header, so each is merely unknown.
		// 10 KB of kid makes the token longer than 8 KiB, which is refused
		// before it is parsed.
		{"kid path traversal", withSig(header(map[string]any{"kid": "../../etc/passwd"}), realClaims, parts[2]), "tokenInvalid"},
		{"kid SQL injection", withSig(header(map[string]any{"kid": "' OR 1=1 --"}), realClaims, parts[2]), "tokenInvalid"},
		{"kid of 10 KB", withSig(header(map[string]any{"kid": hostileKid10K}), realClaims, parts[2]), "tokenMalformed"},
		{"kid with CR/LF", withSig(header(map[string]any{"kid": kid + "\r\n" + crlfMarker + ": 1"}), realClaims, parts[2]), "tokenInvalid"},
		{"kid a number", withSig(header(map[string]any{"kid": 1}), realClaims, parts[2]), "tokenInvalid"},
		{"kid empty", withSig(header(map[string]any{"kid": ""}), realClaims, parts[2]), "tokenInvalid"},

		// Duplicate header members (RFC 7515 4: reject, or take the last).
		// token.Parse (encoding/json) takes the last alg and the strict
		// JOSE parser refuses duplicates, so the two never disagree:
		// none-then-RS256 passes the alg check and is refused as
		// unparsable even when validly signed; RS256-then-none fails the
		// alg check first.
		{"duplicate alg none then RS256", enc([]byte(`{"alg":"none","alg":"RS256","typ":"at+jwt","kid":"`+kid+`"}`)) + "." + enc(realClaims) + ".", "tokenMalformed"},
		{"duplicate alg none then RS256, validly signed", rs256(key, []byte(`{"alg":"none","alg":"RS256","typ":"at+jwt","kid":"`+kid+`"}`), realClaims), "tokenMalformed"},
		{"duplicate alg RS256 then none", enc([]byte(`{"alg":"RS256","alg":"none","typ":"at+jwt","kid":"`+kid+`"}`)) + "." + enc(realClaims) + ".", "tokenInvalid"},
		{"duplicate kid, validly signed", rs256(key, []byte(`{"alg":"RS256","typ":"at+jwt","kid":"evil","kid":"`+kid+`"}`), realClaims), "tokenMalformed"},

		// Claims of the wrong shape, validly signed, so that only the
		// claim is wrong.
		{"exp as a string", rs256(key, header(nil), payload(map[string]any{"exp": fmt.Sprint(claims["exp"])})), "tokenInvalid"},
		{"exp missing", rs256(key, header(nil), payload(map[string]any{"exp": nil})), "tokenInvalid"},
		{"aud an empty array", rs256(key, header(nil), payload(map[string]any{"aud": []string{}})), "tokenInvalid"},
		{"iss not a string", rs256(key, header(nil), payload(map[string]any{"iss": []string{d.URL + "/bc"}})), "tokenMalformed"},

		// Size: refused by length before any splitting or decoding.
		{"1 MB of dots", strings.Repeat(".", 1<<20), "tokenMalformed"},
	}

	for _, tc := range bearerCases {
		if len(tc.token) >= 32 {
			sensitive["token of case "+tc.name] = tc.token
		}
	}

	t.Run("bearer", func(t *testing.T) {
		for _, tc := range bearerCases {
			t.Run(tc.name, func(t *testing.T) {
				r := d.Call(http.MethodGet, "/api/2/clients/"+d.Admin.ID, tc.token, nil)
				if r.Status >= 500 {
					t.Fatalf("account API answered %d: %s", r.Status, r.Body)
				}
				if tc.code == "" {
					if r.Status != http.StatusOK {
						t.Fatalf("control refused: %d %s", r.Status, r.Body)
					}
				} else {
					if r.Status != http.StatusUnauthorized {
						t.Fatalf("status %d, want 401 %s: %s", r.Status, tc.code, r.Body)
					}
					e := r.APIError(t)
					if e.Code != tc.code || e.Domain != "AccountServer" || e.Message == "" {
						t.Errorf("error = %+v, want code %s", e, tc.code)
					}
					wa := r.Header.Get("WWW-Authenticate")
					if !strings.HasPrefix(wa, `Bearer realm="gatehouse", error="invalid_token", error_description="`) {
						t.Errorf("WWW-Authenticate = %q", wa)
					}
				}
				for _, leak := range []string{parts[2], crlfMarker, hostileKid10K[:64]} {
					if strings.Contains(string(r.Body), leak) || strings.Contains(fmt.Sprint(r.Header), leak) {
						t.Errorf("the answer echoes %.20q... from the token", leak)
					}
				}

				// Introspection runs the same checks: every refused token
				// is exactly {"active":false}. A form carrying the 1 MB
				// token is over the body limit.
				form := url.Values{"token": {tc.token}}
				ir := d.PostForm("/bc/idp/introspect_token", form, adminAuth)
				switch {
				case ir.Status >= 500:
					t.Fatalf("introspection answered %d: %s", ir.Status, ir.Body)
				case len(form.Encode()) > server.MaxBodyBytes:
					if ir.Status != http.StatusRequestEntityTooLarge {
						t.Errorf("introspection of an oversized form: %d %s, want 413", ir.Status, ir.Body)
					}
				case tc.code == "":
					var got map[string]any
					ir.JSON(t, &got)
					if ir.Status != http.StatusOK || got["active"] != true {
						t.Errorf("introspection of a control: %d %s", ir.Status, ir.Body)
					}
				default:
					if ir.Status != http.StatusOK || strings.TrimSpace(string(ir.Body)) != `{"active":false}` {
						t.Errorf("introspection: %d %s, want 200 {\"active\":false}", ir.Status, ir.Body)
					}
				}
			})
		}
	})

	// The client-authentication and parameter cases. Together they fail
	// more client authentications from this one address than the
	// brute-force limit allows (20 a minute), so each case that fails one
	// starts two limiter windows later: it is answered on its own merits,
	// not with 429 (the limit has its own tests).
	cc := url.Values{"grant_type": {"client_credentials"}}
	notAToken := url.Values{"token": {"not-a-token"}}
	endpoints := []struct {
		path string
		form url.Values // what the endpoint needs besides authentication
	}{
		{"/bc/idp/token", cc},
		{"/bc/idp/introspect_token", notAToken},
		{"/bc/idp/revoke_token", notAToken},
	}
	std64 := base64.StdEncoding.EncodeToString
	changed := victim.Secret[:len(victim.Secret)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(victim.Secret, "A")]
	// percentAll percent-encodes every byte: a valid, if unusual, form
	// encoding of the same credentials (RFC 6749 2.3.1).
	percentAll := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&b, "%%%02X", s[i])
		}
		return b.String()
	}
	// The right credentials, but base64 without the padding RFC 7617
	// requires: one more way for two parsers to disagree.
	unpadded := strings.TrimRight(std64([]byte(victim.ID+":"+victim.Secret)), "=")
	if unpadded == std64([]byte(victim.ID+":"+victim.Secret)) {
		unpadded = strings.TrimRight(std64([]byte(victim.ID+":"+victim.Secret+"xx")), "=")
	}
	sensitive["unpadded Basic"] = unpadded
	sensitive["changed secret"] = changed
	sensitive["percent-encoded secret"] = percentAll(victim.Secret)
	sensitive["percent-encoded Basic"] = std64([]byte(percentAll(victim.ID) + ":" + percentAll(victim.Secret)))

	type idpCase struct {
		name   string
		path   string
		query  string
		form   url.Values
		auth   []string // Authorization header values, each sent as its own header
		status int
		code   string // "" for the controls
	}
	var idpCases []idpCase
	with := func(base url.Values, extra url.Values) url.Values {
		out := url.Values{}
		for k, v := range base {
			out[k] = append([]string(nil), v...)
		}
		for k, v := range extra {
			out[k] = append(out[k], v...)
		}
		return out
	}

	// These come first: they carry the admin's access token, which the
	// clock advances below (see "idp") would expire.
	auth := []string{testkit.Basic(victim.ID, victim.Secret)}
	idpCases = append(idpCases,
		idpCase{name: "grant_type repeated", path: "/bc/idp/token", form: url.Values{"grant_type": {"client_credentials", "client_credentials"}},
			auth: auth, status: 400, code: "invalid_request"},
		idpCase{name: "grant_type repeated, second unsupported", path: "/bc/idp/token", form: url.Values{"grant_type": {"client_credentials", "password"}},
			auth: auth, status: 400, code: "invalid_request"},
		idpCase{name: "grant_type in the body and the query string", path: "/bc/idp/token", query: "grant_type=client_credentials", form: cc,
			auth: auth, status: 400, code: "invalid_request"},
		idpCase{name: "token repeated, introspection", path: "/bc/idp/introspect_token", form: url.Values{"token": {good, good}},
			auth: auth, status: 400, code: "invalid_request"},
		idpCase{name: "token repeated, introspection, second bogus", path: "/bc/idp/introspect_token", form: url.Values{"token": {good, "x"}},
			auth: auth, status: 400, code: "invalid_request"},
		idpCase{name: "token repeated, revocation", path: "/bc/idp/revoke_token", form: url.Values{"token": {good, good}},
			auth: auth, status: 400, code: "invalid_request"},
		idpCase{name: "token repeated, revocation, second bogus", path: "/bc/idp/revoke_token", form: url.Values{"token": {"x", good}},
			auth: auth, status: 400, code: "invalid_request"},
		idpCase{name: "token repeated, introspection with a bearer caller", path: "/bc/idp/introspect_token", form: url.Values{"token": {good, good}},
			auth: []string{"Bearer " + good}, status: 400, code: "invalid_request"},
		idpCase{name: "token in the query string, introspection with a bearer caller", path: "/bc/idp/introspect_token", query: url.Values{"token": {good}}.Encode(),
			form: url.Values{"token": {good}}, auth: []string{"Bearer " + good}, status: 400, code: "invalid_request"},
		idpCase{name: "control: introspection with a bearer caller", path: "/bc/idp/introspect_token", form: url.Values{"token": {good}},
			auth: []string{"Bearer " + good}, status: 200},
	)

	for _, ep := range endpoints {
		for _, c := range []struct {
			name   string
			auth   string
			status int
			code   string
		}{
			{"control: Basic", testkit.Basic(victim.ID, victim.Secret), 200, ""},
			{"control: Basic, every byte percent-encoded", "Basic " + std64([]byte(percentAll(victim.ID)+":"+percentAll(victim.Secret))), 200, ""},
			{"Basic without a colon", "Basic " + std64([]byte(victim.ID+victim.Secret)), 401, "invalid_client"},
			{"Basic not base64", "Basic " + victim.ID + ":" + victim.Secret, 401, "invalid_client"},
			{"Basic base64 without its padding", "Basic " + unpadded, 401, "invalid_client"},
			{"Basic empty", "Basic ", 401, "invalid_client"},
			{"Basic empty id", "Basic " + std64([]byte(":"+victim.Secret)), 401, "invalid_client"},
			{"Basic empty secret", "Basic " + std64([]byte(victim.ID+":")), 401, "invalid_client"},
			{"Basic empty id and secret", "Basic " + std64([]byte(":")), 401, "invalid_client"},
			{"Basic invalid percent sequence in the secret", "Basic " + std64([]byte(victim.ID+":"+victim.Secret+"%zz")), 401, "invalid_client"},
			{"Basic truncated percent sequence in the secret", "Basic " + std64([]byte(victim.ID+":"+victim.Secret+"%4")), 401, "invalid_client"},
			{"Basic invalid percent sequence in the id", "Basic " + std64([]byte(victim.ID+"%g0:"+victim.Secret)), 401, "invalid_client"},
			{"Basic plus for a space", "Basic " + std64([]byte(victim.ID+":"+victim.Secret+"+")), 401, "invalid_client"},
			{"secret with its last character changed", testkit.Basic(victim.ID, changed), 401, "invalid_client"},
			{"secret with a character added", testkit.Basic(victim.ID, victim.Secret+"A"), 401, "invalid_client"},
			{"secret with its last character removed", testkit.Basic(victim.ID, victim.Secret[:len(victim.Secret)-1]), 401, "invalid_client"},
			{"another client's secret", testkit.Basic(victim.ID, poster.Secret), 401, "invalid_client"},
		} {
			idpCases = append(idpCases, idpCase{name: c.name, path: ep.path, form: ep.form, auth: []string{c.auth}, status: c.status, code: c.code})
		}

		// Credentials in the URL (RFC 6749 2.3.1): every proxy and
		// access log keeps them, so they are refused even when the right
		// credentials came in the header or body too.
		q := url.Values{"client_secret": {victim.Secret}}.Encode()
		idpCases = append(idpCases,
			idpCase{name: "secret in the query string, with Basic", path: ep.path, query: q, form: ep.form,
				auth: []string{testkit.Basic(victim.ID, victim.Secret)}, status: 400, code: "invalid_request"},
			idpCase{name: "secret in the query string, id in the body", path: ep.path,
				query: url.Values{"client_secret": {poster.Secret}}.Encode(),
				form:  with(ep.form, url.Values{"client_id": {poster.ID}}), status: 400, code: "invalid_request"},
			idpCase{name: "id and secret in the query string", path: ep.path,
				query: url.Values{"client_id": {poster.ID}, "client_secret": {poster.Secret}}.Encode(),
				form:  ep.form, status: 400, code: "invalid_request"},
			idpCase{name: "secret in the query string, and in the body", path: ep.path,
				query: url.Values{"client_secret": {poster.Secret}}.Encode(),
				form:  with(ep.form, url.Values{"client_id": {poster.ID}, "client_secret": {poster.Secret}}), status: 400, code: "invalid_request"},
		)

		// Every IdP parameter is a body parameter (RFC 6749 3.2): in the
		// query string it is refused on every endpoint, beside a request
		// that is otherwise valid, while a query parameter the endpoints do
		// not define is ignored.
		basic := []string{testkit.Basic(victim.ID, victim.Secret)}
		for _, param := range []string{"grant_type", "scope", "client_id", "client_secret", "token", "token_type_hint"} {
			value := map[string]string{"grant_type": "client_credentials", "client_id": victim.ID, "client_secret": victim.Secret, "token": "not-a-token"}[param]
			if value == "" {
				value = "x"
			}
			idpCases = append(idpCases, idpCase{name: param + " in the query string", path: ep.path, query: url.Values{param: {value}}.Encode(),
				form: ep.form, auth: basic, status: 400, code: "invalid_request"})
		}
		idpCases = append(idpCases, idpCase{name: "control: another parameter in the query string", path: ep.path, query: "tracking=1",
			form: ep.form, auth: basic, status: 200})

		// Repeated parameters: which of two values counts is exactly the
		// kind of ambiguity two parsers disagree on, so none is chosen.
		postCreds := url.Values{"client_id": {poster.ID}, "client_secret": {poster.Secret}}
		idpCases = append(idpCases,
			idpCase{name: "control: client_secret_post", path: ep.path, form: with(ep.form, postCreds), status: 200},
			idpCase{name: "client_id repeated", path: ep.path, form: with(with(ep.form, postCreds), url.Values{"client_id": {poster.ID}}), status: 400, code: "invalid_request"},
			idpCase{name: "client_id repeated, other client", path: ep.path, form: with(with(ep.form, postCreds), url.Values{"client_id": {victim.ID}}), status: 400, code: "invalid_request"},
			idpCase{name: "client_secret repeated", path: ep.path, form: with(with(ep.form, postCreds), url.Values{"client_secret": {poster.Secret}}), status: 400, code: "invalid_request"},
			idpCase{name: "client_secret repeated, one wrong", path: ep.path, form: with(with(ep.form, postCreds), url.Values{"client_secret": {"wrong"}}), status: 400, code: "invalid_request"},
			idpCase{name: "Basic and client_secret_post at once", path: ep.path, form: with(ep.form, postCreds),
				auth: []string{testkit.Basic(victim.ID, victim.Secret)}, status: 400, code: "invalid_request"},
			idpCase{name: "two Authorization headers", path: ep.path, form: ep.form,
				auth: []string{testkit.Basic(victim.ID, victim.Secret), testkit.Basic(victim.ID, victim.Secret)}, status: 400, code: "invalid_request"},
		)
	}

	t.Run("idp", func(t *testing.T) {
		for _, tc := range idpCases {
			name := tc.path[strings.LastIndex(tc.path, "/")+1:] + " " + tc.name
			t.Run(name, func(t *testing.T) {
				if tc.status == http.StatusUnauthorized {
					d.Clock.Advance(2 * ratelimit.DefaultWindow)
				}
				target := d.URL + tc.path
				if tc.query != "" {
					target += "?" + tc.query
				}
				req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(tc.form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				for _, a := range tc.auth {
					req.Header.Add("Authorization", a)
				}
				r := testkit.Do(t, http.DefaultClient, req)
				if r.Status >= 500 {
					t.Fatalf("answered %d: %s", r.Status, r.Body)
				}
				if r.Status != tc.status {
					t.Fatalf("status %d, want %d %s: %s", r.Status, tc.status, tc.code, r.Body)
				}
				for _, s := range []string{victim.Secret, poster.Secret} {
					if strings.Contains(string(r.Body), s) {
						t.Errorf("the answer echoes a secret: %s", r.Body)
					}
				}
				if tc.code == "" {
					return
				}
				var e api.OAuthError
				r.JSON(t, &e)
				if e.Error != tc.code || e.ErrorDescription == "" {
					t.Errorf("error = %+v, want %s", e, tc.code)
				}
				if r.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control = %q", r.Header.Get("Cache-Control"))
				}
				if wa := r.Header.Get("WWW-Authenticate"); (tc.status == 401) != (wa == `Basic realm="gatehouse"`) {
					t.Errorf("status %d with WWW-Authenticate %q", r.Status, wa)
				}
			})
		}
	})

	if n := fetched.Load(); n != 0 {
		t.Errorf("the server fetched %d URLs named by jku/x5u headers", n)
	}
	logs := d.Logs.String()
	if !strings.Contains(logs, "/bc/idp/token") {
		t.Fatalf("requests were not logged at all:\n%.2000s", logs)
	}
	for name, s := range sensitive {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains the %s", name)
		}
	}
	if strings.Contains(logs, crlfMarker) {
		t.Error("the log carries a header injected through a kid")
	}
}
