package client

import (
	"io"
	"net/http"
	"strings"
)

// Transport returns a RoundTripper that sends each request to the data
// center with "Authorization: Bearer <token>", taking the token from Token.
// Requests to any other origin, including redirects away from the data
// center, go out without it: a token is only good at the data center that
// issued it, and anywhere else it would merely leak.
//
// When the data center answers 401 with error="invalid_token" (the token
// was revoked, or the secret regenerated, before it expired), the cached
// token is dropped and the request is sent once more with a fresh one,
// provided its body can be replayed.
func (c *Client) Transport() http.RoundTripper {
	base := c.hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{c: c, base: base}
}

// HTTPClient returns an *http.Client that authenticates with Transport and
// otherwise behaves like Config.HTTPClient (timeout, cookies, redirects).
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
	tok, err := t.c.Token(ctx)
	if err != nil {
		// A RoundTripper must close the body even when it sends nothing.
		closeRequestBody(req)
		return nil, err
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil

	r := req.Clone(ctx)
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !replayable {
		return resp, err
	}
	if code, _ := challengeParam(resp.Header.Values("WWW-Authenticate"), "error"); code != "invalid_token" {
		return resp, nil
	}

	// Build the retry before discarding the first answer, so that a body
	// that cannot be rebuilt leaves the caller with that answer.
	retry := req.Clone(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		retry.Body = body
	}
	t.c.invalidate(tok.AccessToken)
	fresh, err := t.c.Token(ctx)
	if err != nil {
		closeRequestBody(retry)
		return resp, nil
	}
	if fresh.AccessToken == tok.AccessToken {
		// The data center handed back the token it just refused; sending
		// it again would only repeat the 401.
		closeRequestBody(retry)
		return resp, nil
	}
	drain(resp.Body)
	retry.Header.Set("Authorization", "Bearer "+fresh.AccessToken)
	return t.base.RoundTrip(retry)
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
