package service

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse"
)

// AuthenticateAdmin signs a tenant admin in to the web console with its
// client id and secret, and returns the principal the console then acts as.
//
// The console is not an OAuth endpoint, so the person signing in does not
// choose the client's token_endpoint_auth_method: it is taken from the
// stored client, and the credentials then go through AuthenticateClient
// exactly as at the token endpoint (same secret and status checks, same
// failure counting, same rate limit). Guessing secrets through the console
// is therefore no faster than through /bc/idp/token, and both count against
// one budget. The limiter is asked first, read-only, so that a caller who is
// already refused cannot make the store look up client ids either.
//
// A client that authenticates but is not a tenant admin gets errForbidden;
// that is not counted as a failure, since the secret was right.
func (s *Service) AuthenticateAdmin(ctx context.Context, cred ClientCredentials) (*Principal, error) {
	wait, err := s.limiter.Allowed(ctx, limitKeys(cred)...)
	if err != nil {
		return nil, unavailable(err)
	}
	if wait > 0 {
		return nil, &gatehouse.RateLimitedError{RetryAfter: wait}
	}
	// An unknown id or a store failure keeps the default: AuthenticateClient
	// then answers it (invalid_client with the same hashing work, or 503).
	cred.Method = gatehouse.AuthSecretBasic
	if c, err := s.lookupClient(ctx, cred.ClientID); err == nil {
		cred.Method = c.AuthMethod
	}
	c, ts, err := s.authenticateClient(ctx, cred)
	if err != nil {
		return nil, err
	}
	p := &Principal{Client: c, RemoteIP: cred.RemoteIP, Generation: ts.generationOf(c)}
	if err := s.authorize(ctx, p, ActionConsoleSignIn, target{id: c.ID, tenantID: c.TenantID, clientID: c.ID}); err != nil {
		return nil, err
	}
	return p, nil
}

// SessionPrincipal re-establishes a console session's principal on every
// request from the client's current state, so that a session ends the
// moment its client is deleted, disabled, has its secret regenerated or
// loses its admin role, exactly as that client's bearer tokens stop working
// (the same checks as Authenticate, with the effective generation recorded
// at sign-in, Principal.Generation, in place of the token's). Claims stay
// nil: no management method reads them. remoteIP is the address of the
// request, for the audit log.
func (s *Service) SessionPrincipal(ctx context.Context, clientID string, generation int64, remoteIP string) (*Principal, error) {
	c, err := s.lookupClient(ctx, clientID)
	if errors.Is(err, gatehouse.ErrNotFound) {
		return nil, gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeClientNotFound, "The API client you signed in with no longer exists.")
	}
	if err != nil {
		return nil, err
	}
	if c.Status != gatehouse.StatusEnabled {
		return nil, gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeClientDisabled, "The API client you signed in with has been disabled.")
	}
	ts, err := s.clientTenant(ctx, c)
	if err != nil {
		return nil, err
	}
	if !ts.enabled {
		return nil, gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeClientDisabled, "The tenant of the API client you signed in with, or a tenant above it, has been disabled.")
	}
	if ts.generationOf(c) != generation {
		return nil, gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeTokenRevoked, "The API key you signed in with has been regenerated, or its client or tenant disabled since.")
	}
	p := &Principal{Client: c, RemoteIP: remoteIP, Generation: generation}
	if err := s.authorize(ctx, p, ActionConsoleSignIn, target{id: c.ID, tenantID: c.TenantID, clientID: c.ID}); errors.Is(err, gatehouse.ErrForbidden) {
		// It ends the session, as the other checks above do.
		return nil, gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeAuthorizationFailed, "The API client you signed in with is no longer a tenant admin.")
	} else if err != nil {
		return nil, err
	}
	return p, nil
}
