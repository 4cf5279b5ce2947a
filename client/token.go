package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/api"
)

// Token is an access token: the token endpoint's answer as it came, and
// its lifetime read on this machine's clock (Config.Now). It marshals to
// JSON as the token endpoint's answer alone.
type Token struct {
	api.TokenResponse
	// Issued is when the request that obtained the token was sent: its
	// expires_in counts from then.
	Issued time.Time `json:"-"`
	// Expiry is when the token expires; zero when the data center gave no
	// usable expiry. See Fetcher.Token for how it is worked out.
	Expiry time.Time `json:"-"`
}

// TokenSource supplies access tokens. Fetcher, Cache and Client are
// TokenSources; Transport takes its tokens from one.
type TokenSource interface {
	// Token returns a token for a request made within ctx. The Token is
	// the caller's own: changing it changes nothing in the source.
	Token(ctx context.Context) (*Token, error)
}

// Fetcher requests a new access token with the client_credentials grant
// on every call; put a Cache over it to reuse tokens. It is safe for
// concurrent use.
type Fetcher struct {
	base     string
	tokenURL string
	id       string
	secret   string
	method   string
	hc       *http.Client
	now      func() time.Time
	retry    *Retry
}

// NewFetcher checks cfg and returns a Fetcher for its data center and
// credentials. It uses cfg's HTTPClient, Now, MaxRetries and MaxRetryWait;
// EarlyExpiry is the Cache's business and is only checked.
func NewFetcher(cfg Config) (*Fetcher, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	return newFetcher(s), nil
}

func newFetcher(s *settings) *Fetcher {
	return &Fetcher{
		base:     s.base,
		tokenURL: s.base + "/bc/idp/token",
		id:       s.id,
		secret:   s.secret,
		method:   s.method,
		hc:       s.hc,
		now:      s.now,
		retry:    s.retry,
	}
}

// DatacenterURL is the base URL of the data center the tokens are for.
func (f *Fetcher) DatacenterURL() string { return f.base }

// Token requests a new access token. Answers 429 and 503 are retried as
// Config.MaxRetries and Config.MaxRetryWait say, within ctx.
//
// The token's Expiry is the earlier of two readings. Issued+expires_in is
// immune to skew between this machine's clock and the data center's, and
// is early rather than late, since the request was sent before the server
// started counting; if this clock runs behind, it is the earlier one.
// expires_on is the data center's own word, absolute in its clock; if this
// clock runs ahead, it is the earlier one and the token is replaced early
// rather than used after it expired. Either reading alone is used when the
// other is missing.
//
// One exception: an expires_on at or before the send time cannot be right
// about a token just issued; it means this clock runs ahead of the data
// center's by more than the token's lifetime. Believing it would make
// every request fetch a new token, so expires_in alone counts then. A token
// that would be expired already gets a zero Expiry, as one without any.
func (f *Fetcher) Token(ctx context.Context) (*Token, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if f.method == AuthSecretPost {
		form.Set("client_id", f.id)
		form.Set("client_secret", f.secret)
	}
	body := form.Encode()
	for retries := 0; ; retries++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.tokenURL, strings.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("client: token request: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if f.method == AuthSecretBasic {
			req.Header.Set("Authorization", "Basic "+basicCredentials(f.id, f.secret))
		}

		sent := f.now()
		resp, err := f.hc.Do(req)
		if err != nil {
			return nil, redactErr(err, f.creds())
		}
		if resp.StatusCode == http.StatusOK {
			tok, err := readToken(resp)
			if err != nil {
				return nil, err
			}
			return &Token{TokenResponse: *tok, Issued: sent, Expiry: expiry(tok, sent)}, nil
		}
		if wait, ok := f.retry.delay(ctx, resp, retries); ok {
			status := resp.StatusCode
			drain(resp.Body)
			if err := f.retry.wait(ctx, wait); err != nil {
				return nil, fmt.Errorf("client: token request answered %d; stopped waiting to retry: %w", status, err)
			}
			continue
		}
		err = responseError(resp, f.creds())
		drain(resp.Body)
		return nil, err
	}
}

// creds are the strings that must never appear in an error the Fetcher
// returns.
func (f *Fetcher) creds() []string {
	return []string{f.secret, basicCredentials(f.id, f.secret)}
}

// expiry is Fetcher.Token's reading of when a token obtained by a request
// sent at sent expires.
func expiry(t *api.TokenResponse, sent time.Time) time.Time {
	var exp time.Time // zero while the server has not said
	if t.ExpiresIn > 0 {
		exp = sent.Add(time.Duration(t.ExpiresIn) * time.Second)
	}
	if t.ExpiresOn > 0 {
		on := time.Unix(t.ExpiresOn, 0)
		switch {
		case exp.IsZero():
			exp = on
		case on.After(sent) && on.Before(exp):
			exp = on
		}
	}
	if !exp.After(sent) {
		return time.Time{}
	}
	return exp
}

// readToken decodes and checks a 200 answer of the token endpoint, and
// closes its body.
func readToken(resp *http.Response) (*api.TokenResponse, error) {
	defer drain(resp.Body)
	var tok api.TokenResponse
	if err := decodeBody(resp, &tok); err != nil {
		return nil, fmt.Errorf("client: token response: %w", err)
	}
	if tok.AccessToken == "" {
		return nil, errors.New("client: token response has no access_token")
	}
	if tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "bearer") {
		return nil, fmt.Errorf("client: token response has token_type %q, want bearer", tok.TokenType)
	}
	return &tok, nil
}

// basicCredentials encodes id and secret for HTTP Basic authentication as
// RFC 6749 2.3.1 requires: each is form-urlencoded first, so that a colon
// in the id or a non-ASCII character survives the trip.
func basicCredentials(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
}

// decodeBody reads at most maxBody bytes of JSON into v.
func decodeBody(resp *http.Response, v any) error {
	lr := &io.LimitedReader{R: resp.Body, N: maxBody}
	if err := json.NewDecoder(lr).Decode(v); err != nil {
		if lr.N == 0 {
			return fmt.Errorf("response body exceeds %d bytes", maxBody)
		}
		return fmt.Errorf("malformed JSON response: %w", err)
	}
	return nil
}
