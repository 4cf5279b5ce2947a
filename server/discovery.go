package server

import (
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/apierr"
)

func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(JWKSMaxAge.Seconds())))
	// JWKS holds public members only: the key ring publishes public keys.
	apierr.WriteJSON(w, http.StatusOK, s.svc.Keys().JWKS())
}

// discovery is the OpenID Provider metadata of a data center.
type discovery struct {
	Issuer                            string   `json:"issuer"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	IntrospectionAuthMethods          []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationAuthMethods             []string `json:"revocation_endpoint_auth_methods_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(JWKSMaxAge.Seconds())))
	apierr.WriteJSON(w, http.StatusOK, discovery{
		Issuer:                            s.svc.Issuer(),
		TokenEndpoint:                     s.baseURL + "/bc/idp/token",
		JWKSURI:                           s.baseURL + "/bc/idp/keys",
		IntrospectionEndpoint:             s.baseURL + "/bc/idp/introspect_token",
		RevocationEndpoint:                s.baseURL + "/bc/idp/revoke_token",
		IntrospectionAuthMethods:          []string{"client_secret_basic", "client_secret_post"},
		RevocationAuthMethods:             []string{"client_secret_basic", "client_secret_post"},
		ResponseTypesSupported:            []string{"token"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  s.svc.SigningAlgorithms(),
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post"},
		GrantTypesSupported:               []string{"client_credentials"},
		ClaimsSupported:                   []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "owner_tuid", "scope", "ver", "sub_type"},
	})
}
