package server

import (
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/apierr"
	"github.com/gatehouse-dev/gatehouse/token"
)

// introspection is an RFC 7662 answer for an active token. scope keeps the
// platform's array of role grants, which go-authkit parses, rather than
// RFC 7662's space-separated string, which it cannot.
type introspection struct {
	Active    bool          `json:"active"`
	TokenType string        `json:"token_type"`
	Issuer    string        `json:"iss"`
	Subject   string        `json:"sub"`
	Audience  string        `json:"aud"`
	Expiry    int64         `json:"exp"`
	IssuedAt  int64         `json:"iat,omitempty"`
	JTI       string        `json:"jti"`
	ClientID  string        `json:"client_id"`
	OwnerTUID string        `json:"owner_tuid"`
	Scope     []token.Grant `json:"scope"`
	Version   int           `json:"ver"`
	SubType   string        `json:"sub_type"`
}

// tokenParam returns the one token form parameter of an introspection or
// revocation request.
func tokenParam(r *http.Request) (string, *oauthError) {
	v := r.PostForm["token"]
	switch {
	case len(v) == 0 || v[0] == "":
		return "", errInvalidRequest.with("The token parameter is missing.")
	case len(v) > 1:
		return "", errInvalidRequest.with("The token parameter is repeated.")
	}
	return v[0], nil
}

// handleIntrospect answers RFC 7662 introspection. The caller authenticates
// with its client credentials or, as the platform's go-authkit does, with
// the bearer token of any active client of this data center.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	if f := parseForm(w, r); f != nil {
		writeOAuth(w, f)
		return
	}
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") {
		tok, err := apierr.BearerToken(r)
		if err == nil {
			// An empty token is answered by Authenticate as missing.
			_, err = s.svc.Authenticate(r.Context(), tok)
		}
		if err != nil {
			if apierr.Status(err) == http.StatusServiceUnavailable {
				s.writeServiceOAuthError(w, err)
				return
			}
			writeOAuth(w, errInvalidClient)
			return
		}
	} else {
		cred, f := clientCredentials(r)
		if f != nil {
			writeOAuth(w, f)
			return
		}
		if _, err := s.svc.AuthenticateClient(r.Context(), cred); err != nil {
			s.writeServiceOAuthError(w, err)
			return
		}
	}
	raw, f := tokenParam(r)
	if f != nil {
		writeOAuth(w, f)
		return
	}
	claims, active, err := s.svc.Introspect(r.Context(), raw)
	if err != nil {
		s.writeServiceOAuthError(w, err)
		return
	}
	noStore(w)
	if !active {
		apierr.WriteJSON(w, http.StatusOK, map[string]bool{"active": false})
		return
	}
	out := introspection{
		Active:    true,
		TokenType: "access_token",
		Issuer:    claims.Issuer,
		Subject:   claims.Subject,
		Expiry:    claims.Expiry.Time().Unix(),
		JTI:       claims.ID,
		ClientID:  claims.ClientID,
		OwnerTUID: claims.OwnerTUID,
		Scope:     claims.Scope,
		Version:   claims.Version,
		SubType:   claims.SubType,
	}
	if len(claims.Audience) > 0 {
		out.Audience = claims.Audience[0]
	}
	if claims.IssuedAt != nil {
		out.IssuedAt = claims.IssuedAt.Time().Unix()
	}
	if out.Scope == nil {
		out.Scope = []token.Grant{}
	}
	apierr.WriteJSON(w, http.StatusOK, out)
}

// handleRevoke answers RFC 7009 revocation: 200 with an empty body whether
// or not the token was known, so the answer reveals nothing about it.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if f := parseForm(w, r); f != nil {
		writeOAuth(w, f)
		return
	}
	cred, f := clientCredentials(r)
	if f != nil {
		writeOAuth(w, f)
		return
	}
	raw, f := tokenParam(r)
	if f != nil {
		// Authenticate first, so an unauthenticated caller learns only that.
		if _, err := s.svc.AuthenticateClient(r.Context(), cred); err != nil {
			s.writeServiceOAuthError(w, err)
			return
		}
		writeOAuth(w, f)
		return
	}
	if err := s.svc.RevokeToken(r.Context(), cred, raw); err != nil {
		s.writeServiceOAuthError(w, err)
		return
	}
	noStore(w)
	w.WriteHeader(http.StatusOK)
}
