package guard

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/token"
)

// metadata is what the guard needs from a data center's discovery
// document.
type metadata struct {
	jwksURI       string
	introspectURI string
}

// metadata returns the discovery document, fetching it on first use.
// Success is kept for the life of the Guard; a failure only until the
// backoff allows the next attempt.
func (i *issuer) metadata(ctx context.Context) (*metadata, error) {
	if m, err := i.knownMetadata(); m != nil || err != nil {
		return m, err
	}
	return i.discoveries.Do(ctx, "", func() (*metadata, error) {
		// A discovery that ended just before this one began has left its
		// document, or its backoff.
		if m, err := i.knownMetadata(); m != nil || err != nil {
			return m, err
		}
		var m *metadata
		var failure error
		// Recording the outcome inside run means Close waits for it too:
		// nothing is logged after Close returns.
		if !i.g.run(ctx, func(ctx context.Context) { m, failure = i.discovered(i.discover(ctx)) }) {
			return nil, i.unavailable(ErrClosed, 0)
		}
		return m, failure
	})
}

// discovered records the outcome of a discovery and turns a failure into
// the UnavailableError its waiters get.
func (i *issuer) discovered(m *metadata, err error) (*metadata, error) {
	now := i.g.now()
	var failure error
	i.mu.Lock()
	if err == nil {
		i.meta = m
		i.metaRetry.succeeded()
	} else {
		failure = i.unavailable(err, i.metaRetry.failed(now, err))
	}
	i.mu.Unlock()
	if err != nil {
		i.g.log.Warn("gatehouse discovery failed", "issuer", i.cfg.URL, "err", err)
		return nil, failure
	}
	i.g.log.Info("gatehouse issuer discovered", "issuer", i.cfg.URL, "jwks_uri", m.jwksURI, "introspection_endpoint", m.introspectURI)
	return m, nil
}

// knownMetadata returns the document discovered before, or the failure
// that discovery is backing off from; neither when discovery must run.
func (i *issuer) knownMetadata() (*metadata, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.meta != nil {
		return i.meta, nil
	}
	if wait, err := i.metaRetry.blocked(i.g.now()); err != nil {
		return nil, i.unavailable(err, wait)
	}
	return nil, nil
}

func (i *issuer) discover(ctx context.Context) (*metadata, error) {
	var doc struct {
		Issuer                string `json:"issuer"`
		JWKSURI               string `json:"jwks_uri"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
	}
	if err := i.getJSON(ctx, i.discoveryURI, &doc); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	// OpenID Connect Discovery 1.0 section 4.3: the document must be about
	// the issuer it was fetched for, or it could hand us another's keys.
	if doc.Issuer != i.cfg.URL {
		return nil, fmt.Errorf("discovery: the document is for issuer %s, not %s", token.QuoteUntrusted(doc.Issuer), i.cfg.URL)
	}
	jwks, err := i.endpoint("jwks_uri", doc.JWKSURI)
	if err != nil {
		return nil, err
	}
	intro, err := i.endpoint("introspection_endpoint", doc.IntrospectionEndpoint)
	if err != nil {
		return nil, err
	}
	return &metadata{jwksURI: jwks, introspectURI: intro}, nil
}

// endpoint checks a URL of the discovery document. An https issuer must
// not send the guard to plain http, where the keys could be replaced and
// the client secret read on the way.
func (i *issuer) endpoint(name, raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return "", fmt.Errorf("discovery: the document has no %s", name)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
		return "", fmt.Errorf("discovery: %s %s is not an absolute http or https URL", name, token.QuoteUntrusted(raw))
	case strings.HasPrefix(i.cfg.URL, "https:") && u.Scheme != "https":
		return "", fmt.Errorf("discovery: %s %s is not https like the issuer", name, token.QuoteUntrusted(raw))
	}
	return raw, nil
}
