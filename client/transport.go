package client

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Transport is an http.RoundTripper that sends each request to the data
// center with "Authorization: Bearer <token>", taking the token from
// Source. Requests to any other origin (scheme, host and port), including
// redirects away from the data center, go out as they are: a token is only
// good at the data center that issued it, and anywhere else it would
// merely leak. The caller's request is never modified: each attempt is a
// clone.
//
// Two kinds of answer from the data center make it send a request again,
// provided the request's body can be replayed (it has none, or GetBody):
//
//   - 401 with error="invalid_token" (the token was revoked, or the secret
//     regenerated, before it expired): the token is dropped from Source, if
//     Source has an Invalidate(accessToken string) method as Cache does,
//     and the request is sent once more with a fresh one. Once only: a
//     fresh token that is refused too will be refused again.
//   - 429 or 503: the request is sent again as Retry says, after the
//     Retry-After the server asked for, or after an exponential backoff
//     with jitter. The waits end when the request's context does.
//
// Every other answer, and the last one when no retry is left, goes back to
// the caller as it came.
type Transport struct {
	// Source supplies the tokens, within each request's context. It is
	// required.
	Source TokenSource
	// Datacenter is the data center's base URL; the token goes to its
	// origin only. Empty means the Source's data center, for a Source
	// that names one (Fetcher, and a Cache over one, do): so
	// Transport{Source, Base} is enough. A Transport that knows no origin
	// refuses every request rather than send them all without a token.
	Datacenter string
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Retry says how requests answered 429 or 503 are sent again; nil
	// means they are not.
	Retry *Retry
}

// invalidator is a TokenSource that can drop a token a server refused.
type invalidator interface {
	Invalidate(accessToken string)
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base()
	if t.Source == nil {
		// Sending the request without the token it was meant to carry
		// would only earn a 401 that hides the mistake.
		closeRequestBody(req)
		return nil, errors.New("client: Transport has no Source")
	}
	origin, err := t.origin()
	if err != nil {
		closeRequestBody(req)
		return nil, err
	}
	if !sameOrigin(origin, req) {
		return base.RoundTrip(req)
	}
	ctx := req.Context()
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil

	// out is the request being sent; the caller's req is never modified
	// (RoundTripper's contract), and each retry is cloned afresh from it.
	out := req.Clone(ctx)
	var tok *Token     // nil: take the current one from the source
	refreshed := false // the one retry with a fresh token is used
	for retries := 0; ; {
		if tok == nil {
			var err error
			if tok, err = t.Source.Token(ctx); err != nil {
				// A RoundTripper must close the body even when it sends nothing.
				closeRequestBody(out)
				return nil, err
			}
		}
		out.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := base.RoundTrip(out)
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
			if inv, ok := t.Source.(invalidator); ok {
				inv.Invalidate(tok.AccessToken)
			}
			fresh, err := t.Source.Token(ctx)
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
			wait, ok := t.Retry.delay(ctx, resp, retries)
			if !ok {
				return resp, nil
			}
			next, err := rewind(req)
			if err != nil {
				return resp, nil
			}
			status := resp.StatusCode
			drain(resp.Body)
			if err := t.Retry.wait(ctx, wait); err != nil {
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

// datacenterNamer is a TokenSource that knows its data center's URL.
type datacenterNamer interface {
	DatacenterURL() string
}

// origin is the data center the token may go to: Datacenter, else the
// Source's.
func (t *Transport) origin() (*url.URL, error) {
	raw := t.Datacenter
	if raw == "" {
		if n, ok := t.Source.(datacenterNamer); ok {
			raw = n.DatacenterURL()
		}
	}
	if raw == "" {
		return nil, errors.New("client: Transport has no Datacenter, and its Source names none")
	}
	dc, err := url.Parse(raw)
	if err != nil || dc.Host == "" {
		return nil, fmt.Errorf("client: Transport's data center %q is not an absolute URL", raw)
	}
	return dc, nil
}

// sameOrigin reports whether req goes to the data center: same scheme,
// same host and port.
func sameOrigin(dc *url.URL, req *http.Request) bool {
	if req.URL == nil {
		return false
	}
	return strings.EqualFold(req.URL.Scheme, dc.Scheme) &&
		strings.EqualFold(canonicalHost(req.URL.Scheme, req.URL.Host), canonicalHost(dc.Scheme, dc.Host))
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
