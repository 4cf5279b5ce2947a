package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/api"
)

// TokenPath is the token endpoint, relative to the data center's URL.
const TokenPath = "/bc/idp/token"

// NewHTTPClient returns the one client of a run. Every worker shares its
// transport, which keeps as many idle connections per host as there are
// workers: a closed loop then never dials after the first request of each
// worker, and the run measures the server, not TCP handshakes. Compression
// is off because the answers are small and gzip would cost both sides CPU
// that a real client would not spend.
func NewHTTPClient(concurrency int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // a load test must hit the URL given, not a proxy from the environment
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	// The timeout keeps a hung server from holding a run past its bounds
	// when only a request count limits it.
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// BaseURL checks a data center URL and returns it without a trailing
// slash, ready for paths to be appended.
func BaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("data center URL %q must be absolute and use http or https", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("data center URL %q must have no user info, query or fragment", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// Credentials are an API client's credentials.
type Credentials struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// ReadCredentials reads credentials as either a JSON array of objects or
// JSON Lines (one object per line), each object with at least client_id
// and client_secret; other fields (tenant_id, say) are ignored. Both forms
// are accepted because an array is what a person writes and JSON Lines is
// what a seeding tool can write a million clients to without holding them
// all in memory. The input is streamed either way.
func ReadCredentials(r io.Reader) ([]Credentials, error) {
	br := bufio.NewReader(r)
	// Peek past leading whitespace to tell the two forms apart without
	// consuming anything the decoder needs.
	var first byte
	for {
		b, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no credentials")
		}
		if err != nil {
			return nil, err
		}
		if b == ' ' || b == '\t' || b == '\r' || b == '\n' {
			continue
		}
		first = b
		_ = br.UnreadByte()
		break
	}
	dec := json.NewDecoder(br)
	var out []Credentials
	next := func() error {
		var c Credentials
		if err := dec.Decode(&c); err != nil {
			return fmt.Errorf("credentials %d: %w", len(out)+1, err)
		}
		if c.ClientID == "" || c.ClientSecret == "" {
			return fmt.Errorf("credentials %d: client_id and client_secret are required", len(out)+1)
		}
		out = append(out, c)
		return nil
	}
	switch first {
	case '[':
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		for dec.More() {
			if err := next(); err != nil {
				return nil, err
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, errors.New("credentials: trailing data after the JSON array")
		}
	case '{':
		// Decoding value after value accepts any whitespace between the
		// objects, newlines included.
		for dec.More() {
			if err := next(); err != nil {
				return nil, err
			}
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, errors.New("credentials: trailing data after the last object")
		}
	default:
		return nil, errors.New("credentials: want a JSON array of objects or one JSON object per line")
	}
	if len(out) == 0 {
		return nil, errors.New("no credentials")
	}
	return out, nil
}

// ReadCredentialsFile reads a credentials file (see ReadCredentials).
func ReadCredentialsFile(path string) ([]Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cs, err := ReadCredentials(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cs, nil
}

// basicAuth is the client_secret_basic header of RFC 6749 2.3.1: id and
// secret form-encoded, then Basic-encoded.
func basicAuth(c Credentials) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.ClientID)+":"+url.QueryEscape(c.ClientSecret)))
}

const tokenForm = "grant_type=client_credentials"

// TokenOp posts client_credentials token requests, each with credentials
// picked at random from creds, so that with many clients the server's
// client lookup and cache really work.
func TokenOp(hc *http.Client, baseURL string, creds []Credentials) Op {
	headers := make([]string, len(creds))
	for i, c := range creds {
		headers[i] = basicAuth(c)
	}
	endpoint := baseURL + TokenPath
	return func(ctx context.Context) (int, error) {
		auth := headers[0]
		if len(headers) > 1 {
			auth = headers[mrand.IntN(len(headers))]
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(tokenForm))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", auth)
		return do(hc, req)
	}
}

// APIOp reads one client from the account API with a bearer token: the
// cheapest authenticated request, so it measures the bearer check.
func APIOp(hc *http.Client, baseURL, clientID, accessToken string) Op {
	endpoint := baseURL + "/api/2/clients/" + url.PathEscape(clientID)
	bearer := "Bearer " + accessToken
	return func(ctx context.Context) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", bearer)
		return do(hc, req)
	}
}

// do sends req and reads the whole answer, so the connection goes back to
// the pool for the next request. A non-2xx answer becomes an error that
// quotes the start of its body.
func do(hc *http.Client, req *http.Request) (int, error) {
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		_, err = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
		return res.StatusCode, err
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, bytes.TrimSpace(b))
}

// FetchToken gets one access token for c.
func FetchToken(ctx context.Context, hc *http.Client, baseURL string, c Credentials) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+TokenPath, strings.NewReader(tokenForm))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basicAuth(c))
	res, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch token: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("fetch token: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetch token: %d %s", res.StatusCode, bytes.TrimSpace(b[:min(len(b), 512)]))
	}
	var tr api.TokenResponse
	if err := json.Unmarshal(b, &tr); err != nil || tr.AccessToken == "" {
		return "", errors.New("fetch token: the answer holds no access token")
	}
	return tr.AccessToken, nil
}

// signingInput is a typical access token's header and claims, base64url
// encoded as JWS signs them, so the hashing work matches a real token's.
var signingInput = func() []byte {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"bench-key-0000000000000000000000000000000000","typ":"at+jwt"}`))
	c := base64.RawURLEncoding.EncodeToString([]byte(`{"aud":["127.0.0.1:8080"],"client_id":"3f1c2a8e-1111-4b6e-9c1d-2f0e5c1a7b90",` +
		`"exp":1893456000,"gen":1,"iat":1893448800,"iss":"http://127.0.0.1:8080/bc","jti":"0b8e9a34-2222-4d6c-8f0e-9a7b6c5d4e3f",` +
		`"owner_tuid":"7c6b5a49-3333-4e2d-8c1b-0a9f8e7d6c5b","scope":[{"tuid":"7c6b5a49-3333-4e2d-8c1b-0a9f8e7d6c5b",` +
		`"rn":"account-server","role":"tenant_admin"}],"sub":"3f1c2a8e-1111-4b6e-9c1d-2f0e5c1a7b90","sub_type":"api_client","ver":2}`))
	return []byte(h + "." + c)
}()

// SignOp makes a fresh key for alg (RS256, ES256 or EdDSA) and returns an
// Op that signs a typical token with it as the server does, with the
// standard library directly: go-jose adds only JSON and base64 work on
// top, so this is the ceiling of a data center's signing rate.
func SignOp(alg string) (Op, error) {
	switch alg {
	case "RS256":
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		return func(context.Context) (int, error) {
			h := sha256.Sum256(signingInput)
			_, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, h[:])
			return 0, err
		}, nil
	case "ES256":
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		return func(context.Context) (int, error) {
			h := sha256.Sum256(signingInput)
			_, _, err := ecdsa.Sign(rand.Reader, key, h[:])
			return 0, err
		}, nil
	case "EdDSA":
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return func(context.Context) (int, error) {
			ed25519.Sign(key, signingInput)
			return 0, nil
		}, nil
	}
	return nil, fmt.Errorf("signature algorithm %q: want RS256, ES256 or EdDSA", alg)
}
