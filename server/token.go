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

// oauthFailure is an RFC 6749 error answer decided before the service is
// asked anything.
type oauthFailure struct {
	status            int
	code, description string
}

// write answers the failure and returns its error code, for metrics.
func (f *oauthFailure) write(w http.ResponseWriter) string {
	writeOAuthError(w, f.status, f.code, f.description)
	return f.code
}

var errNoClientAuth = &oauthFailure{http.StatusUnauthorized, "invalid_client", service.ErrInvalidClient.Message}

// parseForm reads a bounded form body (and the query string).
func parseForm(w http.ResponseWriter, r *http.Request) *oauthFailure {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &oauthFailure{http.StatusRequestEntityTooLarge, "invalid_request", "The request body is too large."}
		}
		return &oauthFailure{http.StatusBadRequest, "invalid_request", "The request body or query string is not valid form encoding."}
	}
	return nil
}

// clientCredentials finds the client authentication of an IdP request:
// client_secret_basic (the Authorization header) or client_secret_post (the
// form body, never the query string, where credentials would be logged by
// every proxy). Sending both is an error (RFC 6749 2.3).
func clientCredentials(r *http.Request) (service.ClientCredentials, *oauthFailure) {
	// RFC 6749 2.3.1: credentials must not travel in the URL, where every
	// proxy and access log keeps them. Refused even when other credentials
	// came too, so a client that does this learns at once.
	if q := r.URL.Query(); q.Has("client_secret") || q.Has("client_id") {
		return service.ClientCredentials{}, &oauthFailure{http.StatusBadRequest, "invalid_request", "Client credentials must not be sent in the query string."}
	}
	auth := r.Header.Values("Authorization")
	if len(auth) > 1 {
		return service.ClientCredentials{}, &oauthFailure{http.StatusBadRequest, "invalid_request", "More than one Authorization header was sent."}
	}
	_, postSecret := r.PostForm["client_secret"]
	if len(auth) == 1 {
		id, secret, isBasic, err := parseBasic(auth[0])
		if isBasic {
			if postSecret {
				return service.ClientCredentials{}, &oauthFailure{http.StatusBadRequest, "invalid_request", "Use one client authentication method, not two."}
			}
			if err != nil {
				return service.ClientCredentials{}, errNoClientAuth
			}
			return service.ClientCredentials{ClientID: id, Secret: secret, Method: gatehouse.AuthSecretBasic, RemoteIP: remoteIP(r)}, nil
		}
	}
	ids, secrets := r.PostForm["client_id"], r.PostForm["client_secret"]
	if len(ids) > 1 || len(secrets) > 1 {
		return service.ClientCredentials{}, &oauthFailure{http.StatusBadRequest, "invalid_request", "Client credentials are repeated."}
	}
	if len(ids) != 1 || len(secrets) != 1 || ids[0] == "" {
		return service.ClientCredentials{}, errNoClientAuth
	}
	return service.ClientCredentials{ClientID: ids[0], Secret: secrets[0], Method: gatehouse.AuthSecretPost, RemoteIP: remoteIP(r)}, nil
}

// writeServiceOAuthError answers a service failure at an IdP endpoint and
// returns the OAuth error code it answered with, for metrics.
func (s *Server) writeServiceOAuthError(w http.ResponseWriter, err error) string {
	var ge *gatehouse.Error
	var limited *gatehouse.RateLimitedError
	switch {
	case errors.Is(err, service.ErrCallerGone):
		// Not an outage: under overload, callers that give up while queued
		// for signing are expected, and must not read as store failures.
		s.log.Debug("IdP request abandoned by the caller", "err", err)
		oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The request ended before a token was signed.")
		return "canceled"
	case errors.As(err, &limited):
		// RFC 6749 has no code for this; temporarily_unavailable is its
		// meaning ("unable to handle the request due to a temporary
		// overloading"), and 429 with Retry-After tells clients when.
		w.Header().Set("Retry-After", apierr.RetryAfterSeconds(limited.RetryAfter))
		return oauthError(w, http.StatusTooManyRequests, "temporarily_unavailable", "Too many failed authentications; retry later.")
	case errors.As(err, &ge) && ge.Code == "invalid_client":
		return oauthError(w, http.StatusUnauthorized, "invalid_client", ge.Message)
	case errors.Is(err, gatehouse.ErrUnavailable):
		s.log.Error("IdP request failed: store unavailable", "err", err)
		return oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The service is temporarily unavailable; retry later.")
	default:
		s.log.Error("IdP request failed", "err", err)
		return oauthError(w, http.StatusInternalServerError, "server_error", "Internal error.")
	}
}

// oauthError is writeOAuthError returning the code it wrote.
func oauthError(w http.ResponseWriter, status int, code, description string) string {
	writeOAuthError(w, status, code, description)
	return code
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
	if f := parseForm(w, r); f != nil {
		return f.write(w)
	}
	cred, f := clientCredentials(r)
	if f != nil && f.status != http.StatusUnauthorized {
		return f.write(w)
	}
	switch gt := r.Form["grant_type"]; {
	case len(gt) == 0 || gt[0] == "":
		return oauthError(w, http.StatusBadRequest, "invalid_request", "The grant_type parameter is missing.")
	case len(gt) > 1:
		return oauthError(w, http.StatusBadRequest, "invalid_request", "The grant_type parameter is repeated.")
	case gt[0] != "client_credentials":
		return oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Only the client_credentials grant is supported.")
	}
	if f != nil {
		return f.write(w)
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
