package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/apierr"
	"github.com/gatehouse-dev/gatehouse/service"
)

// decodeJSON reads a bounded JSON body strictly: unknown fields and
// trailing data are errors, so a typo in a field name is not silently a
// no-op.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errTooLarge
		}
		return gatehouse.Errorf(gatehouse.ErrInvalid, gatehouse.CodeValidationError, "The request body could not be read.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return gatehouse.Errorf(gatehouse.ErrInvalid, gatehouse.CodeValidationError, "The request body is empty; a JSON object is expected.")
		}
		return gatehouse.Errorf(gatehouse.ErrInvalid, gatehouse.CodeValidationError, "The request body is not valid JSON for this operation: %s.", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return gatehouse.Errorf(gatehouse.ErrInvalid, gatehouse.CodeValidationError, "The request body has data after the JSON object.")
	}
	return exactFields(body, v)
}

// exactFields holds the body's top-level member names to what encoding/json
// alone does not: it matches field names case-insensitively and lets a
// repeated member win silently, so {"TYPE":...} or two "status" members
// would pass. Names must match a json tag of v exactly, once each.
func exactFields(body []byte, v any) error {
	known := map[string]bool{}
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			known[name] = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // the opening brace
		return nil
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		name, _ := tok.(string)
		if !known[name] {
			return gatehouse.Errorf(gatehouse.ErrInvalid, gatehouse.CodeValidationError, "The request body has an unknown field %s.", strconv.Quote(name))
		}
		if seen[name] {
			return gatehouse.Errorf(gatehouse.ErrInvalid, gatehouse.CodeValidationError, "The request body repeats the field %s.", strconv.Quote(name))
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

var errTooLarge = errors.New("request body too large")

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "syntax error at byte " + strconv.FormatInt(syn.Offset, 10)
	case errors.As(err, &typ):
		return "field " + strconv.Quote(typ.Field) + " has the wrong type"
	default:
		// DisallowUnknownFields reports `json: unknown field "x"`; field
		// names are safe to show.
		return err.Error()
	}
}

func (s *Server) writeDecodeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errTooLarge) {
		apierr.WriteAPIError(w, http.StatusRequestEntityTooLarge, "requestTooLarge", "The request body is too large.", 0)
		return
	}
	s.writeError(w, r, err)
}

func toAPI(c gatehouse.Client) api.Client {
	zero := int64(0)
	out := api.Client{
		ClientID:                c.ID,
		ClientSecretExpiresAt:   &zero,
		Type:                    gatehouse.ClientType,
		TenantID:                c.TenantID,
		TokenEndpointAuthMethod: string(c.AuthMethod),
		Role:                    string(c.Role),
		Data:                    c.Data,
		CreatedAt:               c.CreatedAt.UTC(),
		CreatedBy:               c.CreatedBy,
		Status:                  string(c.Status),
	}
	if len(out.Data) == 0 {
		out.Data = json.RawMessage(`{}`)
	}
	if !c.LastAccessAt.IsZero() {
		at := c.LastAccessAt.UTC()
		ip := c.LastAccessFromIP
		out.LastAccessAt, out.LastAccessFromIP = &at, &ip
	}
	return out
}

func (s *Server) handleClients(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if r.Method == http.MethodPost {
		s.createClient(w, r, p)
		return
	}
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.writeError(w, r, gatehouse.Errorf(gatehouse.ErrInvalid, gatehouse.CodeValidationError, "limit must be a whole number from 1 to 1000."))
			return
		}
		limit = n
	}
	// tenant_id names a tenant below the caller's to list instead of its
	// own: only that tenant's clients, not its subtree's. q searches them,
	// as the console's search does.
	page, err := s.svc.FindClients(r.Context(), p, service.ClientQuery{
		TenantID: q.Get("tenant_id"), Text: q.Get("q"), After: q.Get("after"), Limit: limit,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list := api.ClientList{Items: make([]api.Client, 0, len(page.Clients))}
	for _, c := range page.Clients {
		list.Items = append(list.Items, toAPI(c))
	}
	if page.Next != "" {
		list.Paging = &api.Paging{Cursors: api.Cursors{After: page.Next}}
	}
	apierr.WriteJSON(w, http.StatusOK, list)
}

func (s *Server) createClient(w http.ResponseWriter, r *http.Request, p *service.Principal) {
	var req api.CreateClientRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeDecodeError(w, r, err)
		return
	}
	if req.Type != gatehouse.ClientType {
		s.writeError(w, r, gatehouse.Errorf(gatehouse.ErrInvalid, gatehouse.CodeValidationError, `type must be "api_client".`))
		return
	}
	c, secret, err := s.svc.CreateClient(r.Context(), p, service.ClientSpec{
		TenantID:   req.TenantID,
		AuthMethod: gatehouse.AuthMethod(req.TokenEndpointAuthMethod),
		Role:       gatehouse.Role(req.Role),
		Data:       req.Data,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := toAPI(c)
	out.ClientSecret = secret
	noStore(w)
	w.Header().Set("Location", "/api/2/clients/"+url.PathEscape(c.ID))
	apierr.WriteJSON(w, http.StatusCreated, out)
}

func (s *Server) handleClient(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	id := r.PathValue("id")
	switch r.Method {
	case http.MethodGet:
		c, err := s.svc.GetClient(r.Context(), p, id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		apierr.WriteJSON(w, http.StatusOK, toAPI(c))
	case http.MethodPut:
		var req api.UpdateClientRequest
		if err := decodeJSON(w, r, &req); err != nil {
			s.writeDecodeError(w, r, err)
			return
		}
		var u service.ClientUpdate
		if req.Status != nil {
			st := gatehouse.ClientStatus(*req.Status)
			u.Status = &st
		}
		u.Data = req.Data
		c, err := s.svc.UpdateClient(r.Context(), p, id, u)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		apierr.WriteJSON(w, http.StatusOK, toAPI(c))
	case http.MethodDelete:
		if err := s.svc.DeleteClient(r.Context(), p, id); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) handleRegenerate(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	id := r.PathValue("id")
	secret, err := s.svc.RegenerateSecret(r.Context(), p, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w)
	apierr.WriteJSON(w, http.StatusOK, api.SecretResponse{ClientID: id, ClientSecret: secret})
}
