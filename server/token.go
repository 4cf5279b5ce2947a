package server

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/apierr"
	"github.com/gatehouse-dev/gatehouse/service"
)

// parseBasic decodes an HTTP Basic Authorization header value into a client
// id and secret. Per RFC 6749 2.3.1 both were form-urlencoded before the
// Basic encoding, so they are form-decoded here; clients that skip that step
// send the same bytes as long as the credentials are URL-unreserved, which
// every generated and every accepted operator-chosen credential is.
// ok is false if the header is not Basic; err is set if it is Basic but
// malformed.
func parseBasic(header string) (id, secret string, ok bool, err error) {
	scheme, rest, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", "", true, errors.New("credentials are not valid base64")
	}
	rawID, rawSecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", true, errors.New("credentials have no colon")
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", true, errors.New("client id is not form-encoded")
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", true, errors.New("client secret is not form-encoded")
	}
	if id == "" {
		return "", "", true, errors.New("client id is empty")
	}
	return id, secret, true, nil
}

// bodyOnlyParams are the parameters of the IdP endpoints: the token
// request's (RFC 6749 4.4.2 and 2.3.1), introspection's (RFC 7662 2.1) and
// revocation's (RFC 7009 2.1). Each endpoint reads them from the POST body
// alone (RFC 6749 3.2), and refuses a request that also puts any of them in
// the URL, where every proxy and access log keeps it: a secret or a token
// there is a leak, and a grant_type there is a client building URLs that
// will one day carry one. Refused on every endpoint alike, even where the
// endpoint does not read the parameter, so a client learns the one rule at
// its first request. Other query parameters are ignored: the endpoint's URL
// may carry a query of its own (RFC 6749 3.2).
var bodyOnlyParams = []string{"grant_type", "scope", "client_id", "client_secret", "token", "token_type_hint"}

// parseForm reads the bounded form body of an IdP request, and refuses the
// request if the query string carries any of its parameters. Handlers read
// r.PostForm only.
func parseForm(w http.ResponseWriter, r *http.Request) *oauthError {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errInvalidRequest.withStatus(http.StatusRequestEntityTooLarge).with("The request body is too large.")
		}
		return errInvalidRequest.with("The request body or query string is not valid form encoding.")
	}
	// ParseForm accepted the query string, so this parse succeeds too.
	q := r.URL.Query()
	for _, name := range bodyOnlyParams {
		if q.Has(name) {
			return errInvalidRequest.with("The " + name + " parameter is refused in the query string: send it in the form body.")
		}
	}
	return nil
}

// clientCredentials finds the client authentication of an IdP request:
// client_secret_basic (the Authorization header) or client_secret_post (the
// form body; parseForm has refused credentials in the query string). Sending
// both is an error (RFC 6749 2.3).
func clientCredentials(r *http.Request) (service.ClientCredentials, *oauthError) {
	auth := r.Header.Values("Authorization")
	if len(auth) > 1 {
		return service.ClientCredentials{}, errInvalidRequest.with("More than one Authorization header was sent.")
	}
	_, postSecret := r.PostForm["client_secret"]
	if len(auth) == 1 {
		id, secret, isBasic, err := parseBasic(auth[0])
		if isBasic {
			if postSecret {
				return service.ClientCredentials{}, errInvalidRequest.with("Use one client authentication method, not two.")
			}
			if err != nil {
				return service.ClientCredentials{}, errInvalidClient
			}
			// RFC 6749 2.3.1 lets a Basic client repeat its id in the body;
			// another id there is a request that contradicts itself.
			if ids := r.PostForm["client_id"]; len(ids) > 1 || (len(ids) == 1 && ids[0] != id) {
				return service.ClientCredentials{}, errInvalidRequest.with("The client_id in the body is not the client of the Authorization header.")
			}
			return service.ClientCredentials{ClientID: id, Secret: secret, Method: gatehouse.AuthSecretBasic, RemoteIP: remoteIP(r)}, nil
		}
	}
	ids, secrets := r.PostForm["client_id"], r.PostForm["client_secret"]
	if len(ids) > 1 || len(secrets) > 1 {
		return service.ClientCredentials{}, errInvalidRequest.with("Client credentials are repeated.")
	}
	if len(ids) != 1 || len(secrets) != 1 || ids[0] == "" {
		return service.ClientCredentials{}, errInvalidClient
	}
	return service.ClientCredentials{ClientID: ids[0], Secret: secrets[0], Method: gatehouse.AuthSecretPost, RemoteIP: remoteIP(r)}, nil
}

// handleToken answers a token request and counts its outcome. The HTTP
// layer counts rather than the service because only here is every refusal
// known, the malformed requests the service never sees included.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if reason := s.issueToken(w, r); reason != "" {
		s.metrics.TokenRequestFailed(reason)
		return
	}
	s.metrics.TokenIssued()
}

// issueToken answers a token request. It returns the OAuth error code of a
// refusal, or "" when it issued a token. The codes are constants of this
// package, so the metric label they become stays a small fixed set.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) (reason string) {
	if e := parseForm(w, r); e != nil {
		return writeOAuth(w, e)
	}
	// A request that is malformed as well as unauthenticated is told it is
	// malformed: invalid_client waits until the grant type is checked.
	cred, e := clientCredentials(r)
	if e != nil && !errors.Is(e, errInvalidClient) {
		return writeOAuth(w, e)
	}
	switch gt := r.PostForm["grant_type"]; {
	case len(gt) == 0 || gt[0] == "":
		return writeOAuth(w, errInvalidRequest.with("The grant_type parameter is missing."))
	case len(gt) > 1:
		return writeOAuth(w, errInvalidRequest.with("The grant_type parameter is repeated."))
	case gt[0] != "client_credentials":
		return writeOAuth(w, errUnsupportedGrantType.with("Only the client_credentials grant is supported."))
	}
	if e != nil {
		return writeOAuth(w, e)
	}
	issued, err := s.svc.IssueToken(r.Context(), cred)
	if err != nil {
		return s.writeServiceOAuthError(w, err)
	}
	noStore(w)
	apierr.WriteJSON(w, http.StatusOK, api.TokenResponse{
		AccessToken: issued.AccessToken,
		TokenType:   "bearer",
		ExpiresIn:   int64(issued.ExpiresAt.Sub(issued.IssuedAt).Seconds()),
		ExpiresOn:   issued.ExpiresAt.Unix(),
		IDToken:     issued.IDToken,
	})
	return ""
}
