package client

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/flight"
)

// Cache is a TokenSource that reuses the token of another TokenSource
// until shortly before it expires, and shares one request to that source
// among concurrent callers. It is safe for concurrent use.
type Cache struct {
	src   TokenSource
	early time.Duration
	now   func() time.Time

	flights flight.Group[*cached]

	mu  sync.Mutex
	cur *cached // handed out until cur.refreshAt; nil if none
}

// cached is a token together with the time it stops being handed out.
type cached struct {
	tok       Token
	refreshAt time.Time // <= tok.Issued if never
}

// NewCache returns a Cache over src. A token is replaced earlyExpiry before
// its Expiry (zero means DefaultEarlyExpiry), but never earlier than
// half-way through its lifetime, so short-lived tokens are still reused.
// A token without an Expiry is not reused. now is the clock the expiry is
// read against, the one src uses; nil means time.Now.
func NewCache(src TokenSource, earlyExpiry time.Duration, now func() time.Time) *Cache {
	if earlyExpiry <= 0 {
		earlyExpiry = DefaultEarlyExpiry
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{src: src, early: earlyExpiry, now: now}
}

// Token returns a valid access token, from the cache while the cached one
// is outside its early-expiry window. Concurrent callers that find no
// usable token share one request to the source; a caller whose ctx ends
// stops waiting, but the request goes on for the others and fills the
// cache. The request keeps the values of the ctx that started it (trace
// ids and the like) but not its cancellation, and is bounded by a timeout
// of its own; the Cache keeps no caller's context once it ends.
func (c *Cache) Token(ctx context.Context) (*Token, error) {
	e, err := c.entry(ctx)
	if err != nil {
		return nil, err
	}
	t := e.tok
	return &t, nil
}

// entry is Token returning the cache entry itself, which callers must not
// modify: it is shared.
func (c *Cache) entry(ctx context.Context) (*cached, error) {
	c.mu.Lock()
	e := c.cur
	c.mu.Unlock()
	if e != nil && c.now().Before(e.refreshAt) {
		return e, nil
	}
	if ctx.Err() != nil {
		// Nobody would wait for a fetch started now.
		return nil, context.Cause(ctx)
	}
	return c.flights.Do(ctx, "", func() (*cached, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tokenTimeout)
		defer cancel()
		tok, err := c.src.Token(fctx)
		if err != nil {
			return nil, err
		}
		e := c.lifetime(tok)
		c.mu.Lock()
		if e.refreshAt.After(e.tok.Issued) {
			c.cur = e
		} else {
			c.cur = nil
		}
		c.mu.Unlock()
		return e, nil
	})
}

// lifetime works out when a token stops being handed out: EarlyExpiry
// before its Expiry, but no earlier than half-way through its lifetime.
func (c *Cache) lifetime(t *Token) *cached {
	e := &cached{tok: *t, refreshAt: t.Issued}
	life := t.Expiry.Sub(t.Issued)
	if t.Expiry.IsZero() || life <= 0 {
		return e
	}
	e.refreshAt = t.Expiry.Add(-min(c.early, life/2))
	return e
}

// DatacenterURL is the data center of the Cache's source, when the source
// names one (a Fetcher does), so that a Transport over the Cache knows
// where its tokens may go; "" otherwise.
func (c *Cache) DatacenterURL() string {
	if n, ok := c.src.(datacenterNamer); ok {
		return n.DatacenterURL()
	}
	return ""
}

// Invalidate drops the cached token if it is still accessToken, which a
// resource server has just rejected, so the next Token fetches a new one.
// Comparing first means that when many requests fail with the same token
// at once, the cache is dropped once and a replacement fetched by one of
// them is not thrown away by the rest.
func (c *Cache) Invalidate(accessToken string) {
	c.mu.Lock()
	if c.cur != nil && c.cur.tok.AccessToken == accessToken {
		c.cur = nil
	}
	c.mu.Unlock()
}

// current is the cached access token, or "" when there is none.
func (c *Cache) current() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return ""
	}
	return c.cur.tok.AccessToken
}
