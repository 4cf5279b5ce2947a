package client

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/api"
)

// Transport returns a RoundTripper that sends each request to the data
// center with "Authorization: Bearer <token>", taking the token from Token.
// Requests to any other origin, including redirects away from the data
// center, go out as they are: a token is only good at the data center that
// issued it, and anywhere else it would merely leak.
//
// Two kinds of answer from the data center make it send a request again,
// provided the request's body can be replayed (it has none, or GetBody):
//
//   - 401 with error="invalid_token" (the token was revoked, or the secret
//     regenerated, before it expired): the cached token is dropped and the
//     request is sent once more with a fresh one. Once only: a fresh token
//     that is refused too will be refused again.
//   - 429 or 503: the request is sent again after the Retry-After the
//     server asked for, or after an exponential backoff with jitter, up to
//     Config.MaxRetries times; see Config.MaxRetryWait. The waits end when
//     the request's context does.
//
// Every other answer, and the last one when no retry is left, goes back to
// the caller as it came.
func (c *Client) Transport() http.RoundTripper {
	base := c.hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{c: c, base: base}
}

// HTTPClient returns an *http.Client that authenticates with Transport and
// otherwise behaves like Config.HTTPClient (timeout, cookies, redirects).
// Its Timeout covers the retries and their waits as well.
func (c *Client) HTTPClient() *http.Client {
	hc := *c.api
	return &hc
}

type transport struct {
	c    *Client
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.c.sameOrigin(req) {
		return t.base.RoundTrip(req)
	}
	ctx := req.Context()
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil

	// out is the request being sent; the caller's req is never modified
	// (RoundTripper's contract), and each retry is cloned afresh from it.
	out := req.Clone(ctx)
	var tok *api.TokenResponse // nil: take the current one from the cache
	refreshed := false         // the one retry with a fresh token is used
	for retries := 0; ; {
		if tok == nil {
			var err error
			if tok, err = t.c.Token(ctx); err != nil {
				// A RoundTripper must close the body even when it sends nothing.
				closeRequestBody(out)
				return nil, err
			}
		}
		out.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := t.base.RoundTrip(out)
		if err != nil || !replayable {
			return resp, err
		}

		switch {
		case resp.StatusCode == http.StatusUnauthorized && !refreshed:
			if code, _ := challengeParam(resp.Header.Values("WWW-Authenticate"), "error"); code != "invalid_token" {
				return resp, nil
			}
			refreshed = true
			// Build the retry before discarding the first answer, so that a
			// body that cannot be rebuilt leaves the caller with that answer.
			next, err := rewind(req)
			if err != nil {
				return resp, nil
			}
			t.c.invalidate(tok.AccessToken)
			fresh, err := t.c.Token(ctx)
			if err != nil || fresh.AccessToken == tok.AccessToken {
				// The refused answer explains more than a failed token
				// request would; and the data center handing back the
				// token it just refused would only repeat the 401.
				closeRequestBody(next)
				return resp, nil
			}
			drain(resp.Body)
			out, tok = next, fresh

		case retryable(resp.StatusCode):
			wait, ok := t.c.retryDelay(ctx, resp, retries)
			if !ok {
				return resp, nil
			}
			next, err := rewind(req)
			if err != nil {
				return resp, nil
			}
			status := resp.StatusCode
			drain(resp.Body)
			if err := t.c.sleep(ctx, wait); err != nil {
				closeRequestBody(next)
				return nil, fmt.Errorf("client: %s answered %d; stopped waiting to retry: %w", req.URL.Redacted(), status, err)
			}
			retries++
			// The wait may have crossed the cached token's refresh time.
			out, tok = next, nil

		default:
			return resp, nil
		}
	}
}

// rewind clones req for another attempt, with a fresh copy of its body.
func rewind(req *http.Request) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	return r, nil
}

// sameOrigin reports whether req goes to the data center: same scheme,
// same host and port.
func (c *Client) sameOrigin(req *http.Request) bool {
	return req.URL != nil &&
		strings.EqualFold(req.URL.Scheme, c.origin.Scheme) &&
		strings.EqualFold(canonicalHost(req.URL.Scheme, req.URL.Host), canonicalHost(c.origin.Scheme, c.origin.Host))
}

// canonicalHost spells out the default port, so that example.com and
// example.com:443 count as the same https origin.
func canonicalHost(scheme, host string) string {
	if strings.LastIndexByte(host, ':') > strings.LastIndexByte(host, ']') {
		return host
	}
	switch strings.ToLower(scheme) {
	case "https":
		return host + ":443"
	case "http":
		return host + ":80"
	}
	return host
}

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// drain reads a little of what is left of a body before closing it, so the
// connection can be reused, without reading an unbounded amount.
func drain(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	body.Close()
}
