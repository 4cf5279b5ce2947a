package guard

import (
	"context"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/token"
)

// Claims are the verified claims of an access token.
type Claims struct {
	Issuer    string    // iss: the issuer's URL
	Subject   string    // sub: the API client's id
	Audience  []string  // aud
	Expiry    time.Time // exp; never zero in a verified token
	NotBefore time.Time // nbf; zero when absent
	IssuedAt  time.Time // iat; zero when absent
	ID        string    // jti

	ClientID  string  // client_id
	OwnerTUID string  // owner_tuid: the tenant that owns the client
	Version   int     // ver
	SubType   string  // sub_type: api_client
	Scope     []Grant // scope: the client's roles
	// Generation is the sum of the generations of the client and of its
	// tenants when the token was minted (gen).
	Generation int64
}

// Grant is one role of the scope claim.
type Grant struct {
	TenantID string // tid
	TUID     string // tuid
	RN       string // rn: the resource namespace
	Role     string // role
}

// claimsOf copies what package token verified into the guard's own type,
// so that the guard's API does not change with the JWT library's.
func claimsOf(a *token.AccessClaims) *Claims {
	c := &Claims{
		Issuer:     a.Issuer,
		Subject:    a.Subject,
		Audience:   slices.Clone([]string(a.Audience)),
		ID:         a.ID,
		ClientID:   a.ClientID,
		OwnerTUID:  a.OwnerTUID,
		Version:    a.Version,
		SubType:    a.SubType,
		Generation: a.Generation,
	}
	if a.Expiry != nil {
		c.Expiry = a.Expiry.Time()
	}
	if a.NotBefore != nil {
		c.NotBefore = a.NotBefore.Time()
	}
	if a.IssuedAt != nil {
		c.IssuedAt = a.IssuedAt.Time()
	}
	if a.Scope != nil {
		c.Scope = make([]Grant, len(a.Scope))
		for n, g := range a.Scope {
			c.Scope[n] = Grant{TenantID: g.TenantID, TUID: g.TUID, RN: g.RN, Role: g.Role}
		}
	}
	return c
}

// clone gives each caller claims of its own, so a handler that changes
// them cannot change what the cache hands the next request.
func (c *Claims) clone() *Claims {
	cp := *c
	cp.Audience = slices.Clone(c.Audience)
	cp.Scope = slices.Clone(c.Scope)
	return &cp
}

type claimsKey struct{}

// ClaimsFrom returns the claims that Guard.Middleware verified for the
// request whose context is ctx.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}
