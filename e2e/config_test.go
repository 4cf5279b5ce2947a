package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestServeConfig checks that flags and their environment twins reach the
// running server, observed only from outside: discovery, token claims and
// token lifetimes.
func TestServeConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   []string
		args  []string
		check func(t *testing.T, s *server)
	}{
		{
			// The public URL differs from the listen address, as behind a
			// reverse proxy: iss and aud follow the public URL, and the
			// server still accepts its own tokens.
			name: "GATEHOUSE_DATACENTER_URL",
			env:  []string{"GATEHOUSE_DATACENTER_URL=http://example.test:1234"},
			check: func(t *testing.T, s *server) {
				checkDatacenterURL(t, s, "http://example.test:1234", "example.test:1234")
			},
		},
		{
			name: "--datacenter-url wins over its twin",
			env:  []string{"GATEHOUSE_DATACENTER_URL=http://twin.test:1"},
			args: []string{"--datacenter-url", "https://flag.test"},
			check: func(t *testing.T, s *server) {
				checkDatacenterURL(t, s, "https://flag.test", "flag.test")
			},
		},
		{
			name: "GATEHOUSE_TOKEN_TTL",
			env:  []string{"GATEHOUSE_TOKEN_TTL=90s"},
			check: func(t *testing.T, s *server) {
				checkTTL(t, s, 90*time.Second)
			},
		},
		{
			name: "--token-ttl wins over its twin",
			env:  []string{"GATEHOUSE_TOKEN_TTL=90s"},
			args: []string{"--token-ttl", "2m"},
			check: func(t *testing.T, s *server) {
				checkTTL(t, s, 2*time.Minute)
			},
		},
		{
			name: "default token TTL is two hours",
			check: func(t *testing.T, s *server) {
				checkTTL(t, s, 2*time.Hour)
			},
		},
		{
			// Zero leeway is legitimate (go-authkit has none); it must not
			// be mistaken for "unset" or refused as non-positive.
			name: "--leeway 0s",
			args: []string{"--leeway", "0s"},
			check: func(t *testing.T, s *server) {
				boot := s.bootstrapCreds(t)
				tok := s.token(t, boot.ClientID, boot.ClientSecret)
				if _, status := s.getClient(t, tok.AccessToken, boot.ClientID); status != http.StatusOK {
					t.Errorf("fresh token refused with zero leeway: %d", status)
				}
			},
		},
		{
			// A malformed twin is no error when its flag is given: the
			// flag wins.
			name: "--leeway over a malformed GATEHOUSE_LEEWAY",
			env:  []string{"GATEHOUSE_LEEWAY=soon"},
			args: []string{"--leeway", "10s"},
			check: func(t *testing.T, s *server) {
				boot := s.bootstrapCreds(t)
				tok := s.token(t, boot.ClientID, boot.ClientSecret)
				if _, status := s.getClient(t, tok.AccessToken, boot.ClientID); status != http.StatusOK {
					t.Errorf("token refused: %d", status)
				}
			},
		},
		{
			name: "default signing algorithm is RS256",
			check: func(t *testing.T, s *server) {
				checkSigningAlg(t, s, "RS256")
			},
		},
		{
			name:  "GATEHOUSE_SIGNING_ALG",
			env:   []string{"GATEHOUSE_SIGNING_ALG=ES256"},
			check: func(t *testing.T, s *server) { checkSigningAlg(t, s, "ES256") },
		},
		{
			name:  "--signing-alg wins over its twin",
			env:   []string{"GATEHOUSE_SIGNING_ALG=ES256"},
			args:  []string{"--signing-alg", "EdDSA"},
			check: func(t *testing.T, s *server) { checkSigningAlg(t, s, "EdDSA") },
		},
		{
			name: "GATEHOUSE_LOG_FORMAT=json",
			env:  []string{"GATEHOUSE_LOG_FORMAT=json"},
			check: func(t *testing.T, s *server) {
				s.waitLog(t, `"msg":"gatehouse listening"`)
				if !strings.HasPrefix(s.stderr.String(), "{") {
					t.Errorf("log is not JSON:\n%s", s.stderr.String())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, serverOpts{env: tt.env, args: tt.args})
			tt.check(t, s)
		})
	}
}

func checkDatacenterURL(t *testing.T, s *server, publicURL, wantAud string) {
	t.Helper()
	r := s.do(t, http.MethodGet, "/bc/.well-known/openid-configuration", "", nil)
	r.Want(t, http.StatusOK, "discovery")
	var d struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
		JWKSURI       string `json:"jwks_uri"`
	}
	r.JSON(t, &d)
	if want := publicURL + "/bc"; d.Issuer != want {
		t.Errorf("issuer %q, want %q", d.Issuer, want)
	}
	if want := publicURL + "/bc/idp/token"; d.TokenEndpoint != want {
		t.Errorf("token_endpoint %q, want %q", d.TokenEndpoint, want)
	}
	if want := publicURL + "/bc/idp/keys"; d.JWKSURI != want {
		t.Errorf("jwks_uri %q, want %q", d.JWKSURI, want)
	}

	boot := s.bootstrapCreds(t)
	tok := s.token(t, boot.ClientID, boot.ClientSecret)
	c := claims(t, tok.AccessToken)
	if iss, _ := c["iss"].(string); iss != publicURL+"/bc" {
		t.Errorf("access token iss %q, want %q", iss, publicURL+"/bc")
	}
	if aud := audience(t, c); !slices.Equal(aud, []string{wantAud}) {
		t.Errorf("access token aud %q, want [%q]", aud, wantAud)
	}
	if _, status := s.getClient(t, tok.AccessToken, boot.ClientID); status != http.StatusOK {
		t.Errorf("the server refuses its own token: %d", status)
	}
}

// checkSigningAlg checks that the server signs with alg, publishes it, and
// accepts its own tokens.
func checkSigningAlg(t *testing.T, s *server, alg string) {
	t.Helper()
	boot := s.bootstrapCreds(t)
	tok := s.token(t, boot.ClientID, boot.ClientSecret)
	for _, jwt := range []string{tok.AccessToken, tok.IDToken} {
		h, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
		if err != nil {
			t.Fatal(err)
		}
		var header struct{ Alg string }
		if err := json.Unmarshal(h, &header); err != nil || header.Alg != alg {
			t.Errorf("token header %s, want alg %s", h, alg)
		}
	}
	var doc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	s.do(t, http.MethodGet, "/bc/.well-known/openid-configuration", "", nil).JSON(t, &doc)
	if !slices.Equal(doc.Algs, []string{alg}) {
		t.Errorf("discovery lists %v, want [%s]", doc.Algs, alg)
	}
	if _, status := s.getClient(t, tok.AccessToken, boot.ClientID); status != http.StatusOK {
		t.Errorf("the server refuses its own %s token: %d", alg, status)
	}
}

func checkTTL(t *testing.T, s *server, ttl time.Duration) {
	t.Helper()
	boot := s.bootstrapCreds(t)
	tok := s.token(t, boot.ClientID, boot.ClientSecret)
	checkTokenResponse(t, tok, ttl)
	c := claims(t, tok.AccessToken)
	exp, _ := c["exp"].(float64)
	iat, _ := c["iat"].(float64)
	if int64(exp-iat) != int64(ttl.Seconds()) {
		t.Errorf("access token exp-iat = %v, want %v", exp-iat, ttl.Seconds())
	}
	if int64(exp) != tok.ExpiresOn {
		t.Errorf("expires_on %d differs from the token's exp %v", tok.ExpiresOn, exp)
	}
}

// TestServeConfigRefused checks that a malformed setting stops the server
// with a one-line message naming the culprit, rather than being ignored in
// favour of a default.
func TestServeConfigRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      []string
		args     []string
		wantText string
	}{
		{"bad GATEHOUSE_LEEWAY", []string{"GATEHOUSE_LEEWAY=soon"}, nil, "GATEHOUSE_LEEWAY"},
		{"bad GATEHOUSE_TOKEN_TTL", []string{"GATEHOUSE_TOKEN_TTL=2 hours"}, nil, "GATEHOUSE_TOKEN_TTL"},
		{"negative --leeway", nil, []string{"--leeway", "-1s"}, "--leeway"},
		{"zero --token-ttl", nil, []string{"--token-ttl", "0s"}, "--token-ttl"},
		{"bad GATEHOUSE_LOG_LEVEL", []string{"GATEHOUSE_LOG_LEVEL=loud"}, nil, "log level"},
		{"bad --datacenter-url", nil, []string{"--datacenter-url", "example.test"}, "datacenter URL"},
		{"HS256 --signing-alg", nil, []string{"--signing-alg", "HS256"}, "--signing-alg"},
		{"lower-case --signing-alg", nil, []string{"--signing-alg", "es256"}, "--signing-alg"},
		{"bad GATEHOUSE_SIGNING_ALG", []string{"GATEHOUSE_SIGNING_ALG=none"}, nil, "--signing-alg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := launch(t, serverOpts{dataDir: filepath.Join(t.TempDir(), "data"), env: tt.env, args: tt.args}, freePort(t))
			if code := s.waitExit(t, exitTimeout); code == 0 {
				t.Fatalf("exit code 0, want non-zero; stderr %q", s.stderr.String())
			}
			stderr := s.stderr.String()
			wantOneLine(t, stderr)
			if !strings.Contains(stderr, tt.wantText) {
				t.Errorf("stderr %q does not name %q", stderr, tt.wantText)
			}
		})
	}
}
