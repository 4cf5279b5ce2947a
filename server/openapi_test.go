package server_test

// The API reference (openapi.json) is checked against the server itself:
// every request of an end-to-end flow, and every answer, is validated with
// kin-openapi against the document the server serves, and two more checks
// make sure the document and the routes of server.go name the same paths
// and methods. A change of the code that the document does not follow, or
// the other way round, fails here.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/locator"
	"github.com/gatehouse-dev/gatehouse/server"
)

// oaSpec validates real exchanges against the OpenAPI document and records
// which documented operations they exercised.
type oaSpec struct {
	doc    *openapi3.T
	router routers.Router
	// paths are the document's path templates as regular expressions, to
	// name the path of a request the router refuses (405).
	paths map[string]*regexp.Regexp

	mu   sync.Mutex
	seen map[string]bool // "METHOD /template"
}

// oaLoad fetches the document from a running data center, checks that it is
// the file kept in the repository, and validates it.
func oaLoad(t *testing.T, baseURL string) (*oaSpec, []byte) {
	t.Helper()
	res, err := http.Get(baseURL + "/api/2/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/2/openapi.json: %d %v", res.StatusCode, err)
	}
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(served, file) {
		t.Fatal("the served document is not server/openapi.json")
	}
	return oaParse(t, served), served
}

func oaParse(t *testing.T, raw []byte) *oaSpec {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	// kin-openapi validates a 3.1 document as 3.1 (type arrays, const,
	// JSON Schema 2020-12 keywords) and checks the examples too.
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	// The document's server is relative ("/": the data center that serves
	// it), so the router matches requests to any data center of a test.
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	s := &oaSpec{doc: doc, router: router, paths: map[string]*regexp.Regexp{}, seen: map[string]bool{}}
	for p := range doc.Paths.Map() {
		re := regexp.QuoteMeta(p)
		re = regexp.MustCompile(`\\\{[^/]+\\\}`).ReplaceAllString(re, `[^/]+`)
		s.paths[p] = regexp.MustCompile("^" + re + "$")
	}
	return s
}

// oaCall is one request of the flow.
type oaCall struct {
	method string
	path   string // with the query string
	header http.Header
	body   []byte
	want   int
	// nonConforming marks a request the test sends on purpose although the
	// document does not allow it (a missing token, an unknown field): then
	// the document must refuse it too, and the server's answer must still
	// be one it documents.
	nonConforming bool
}

// oaClient shows the client redirects as they are: the console answers
// with them, and they are documented.
var oaClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// oaAuthenticate accepts whatever credentials a request presents, as long
// as they are of the scheme the document requires: checking them is the
// server's job, which the flow tests by their answers. A request whose
// Authorization header does not match any scheme of its operation fails
// validation, so the security declarations of the document are checked.
func oaAuthenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, _, _ := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if in.SecurityScheme.Type == "http" && strings.EqualFold(scheme, in.SecurityScheme.Scheme) {
		return nil
	}
	return fmt.Errorf("no %s credentials", in.SecurityScheme.Scheme)
}

func (s *oaSpec) newRequest(t *testing.T, base string, c oaCall) *http.Request {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.body == nil {
		req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	}
	for k, vs := range c.header {
		req.Header[k] = slices.Clone(vs)
	}
	return req
}

// do sends c to the server at base, checks its status, and validates the
// request and the answer against the document.
func (s *oaSpec) do(t *testing.T, base string, c oaCall) testkit.Response {
	t.Helper()
	out := testkit.Do(t, oaClient, s.newRequest(t, base, c))
	if out.Status != c.want {
		t.Errorf("%s %s = %d %s, want %d", c.method, c.path, out.Status, out.Body, c.want)
	}
	s.validate(t, base, c, out)
	return out
}

func (s *oaSpec) validate(t *testing.T, base string, c oaCall, res testkit.Response) {
	t.Helper()
	what := c.method + " " + c.path
	ctx := context.Background()
	req := s.newRequest(t, base, c)
	route, params, err := s.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound) && strings.HasPrefix(req.URL.Path, "/api/2/") && res.Status == http.StatusUnauthorized:
		// The account API checks the bearer token before it routes.
		s.validateComponent(t, what, "Unauthorized", http.StatusUnauthorized, res)
		return
	case errors.Is(err, routers.ErrPathNotFound):
		// Not a documented path: the server must answer the documented
		// fallback, 404 notFound.
		s.validateComponent(t, what, "RouteNotFound", http.StatusNotFound, res)
		return
	case errors.Is(err, routers.ErrMethodNotAllowed):
		// A documented path with another method: 405 with an Allow header
		// that lists exactly the documented methods.
		s.validateComponent(t, what, "MethodNotAllowed", http.StatusMethodNotAllowed, res)
		tmpl := s.template(req.URL.Path)
		if got, want := allowList(res.Header.Get("Allow")), s.methods(tmpl); !slices.Equal(got, want) {
			t.Errorf("%s: Allow = %v, the document has %v for %s", what, got, want, tmpl)
		}
		return
	case err != nil:
		t.Fatalf("%s: %v", what, err)
	}
	s.mu.Lock()
	s.seen[route.Method+" "+route.Path] = true
	s.mu.Unlock()

	// For a 3.1 document openapi3filter validates bodies, parameters and
	// headers with the JSON Schema 2020-12 validator (route.Spec is 3.1),
	// so const, type arrays such as ["string","null"] and not/anyOf hold.
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: oaAuthenticate, MultiError: true}}
	err = openapi3filter.ValidateRequest(ctx, in)
	switch {
	case c.nonConforming && err == nil:
		t.Errorf("%s: the document allows this request, which the test sends as one it does not", what)
	case !c.nonConforming && err != nil:
		t.Errorf("%s: the request does not conform to the document: %v", what, err)
	case err != nil:
		t.Logf("%s: refused by the document as intended: %v", what, err)
	}

	doc := route.Operation.Responses.Status(res.Status)
	if doc == nil {
		t.Errorf("%s: status %d is not documented for %s %s", what, res.Status, route.Method, route.Path)
		return
	}
	// kin-openapi skips HEAD answers and some statuses (301, 304):
	// their documented headers are checked here, for every answer.
	for name, h := range doc.Value.Headers {
		if h.Value.Required && res.Header.Get(name) == "" {
			t.Errorf("%s: answer %d lacks the documented header %s", what, res.Status, name)
		}
	}
	if len(doc.Value.Content) == 0 && len(res.Body) > 0 && c.method != http.MethodHead {
		t.Errorf("%s: answer %d has a body the document does not describe: %q", what, res.Status, res.Body)
	}
	// A fresh input: ValidateRequest may have consumed the request body.
	in.Request = s.newRequest(t, base, c)
	err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: res.Status, Header: res.Header,
		Body:    io.NopCloser(bytes.NewReader(res.Body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	if err != nil {
		t.Errorf("%s: the answer %d does not conform to the document: %v\nbody: %s", what, res.Status, err, res.Body)
	}
}

// validateComponent checks an answer against a response of the document's
// components: the answers no operation owns (fallback 404, 405).
func (s *oaSpec) validateComponent(t *testing.T, what, name string, status int, res testkit.Response) {
	t.Helper()
	if res.Status != status {
		t.Errorf("%s: %d %s; a path or method the document lacks must answer %d", what, res.Status, res.Body, status)
		return
	}
	r := s.doc.Components.Responses[name].Value
	for h, hr := range r.Headers {
		if hr.Value.Required && res.Header.Get(h) == "" {
			t.Errorf("%s: lacks the header %s of %s", what, h, name)
		}
	}
	mt := r.Content.Get(res.Header.Get("Content-Type"))
	if mt == nil {
		t.Errorf("%s: content type %q is not that of %s", what, res.Header.Get("Content-Type"), name)
		return
	}
	v, err := oaDecode(res.Body)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if err := mt.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("%s: the answer is not %s: %v\nbody: %s", what, name, err, res.Body)
	}
}

func oaDecode(b []byte) (any, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("body %q is not JSON: %w", b, err)
	}
	return v, nil
}

// template names the documented path a concrete path matches.
func (s *oaSpec) template(p string) string {
	// A literal path wins over a template, as in the router.
	if _, ok := s.paths[p]; ok {
		return p
	}
	for tmpl, re := range s.paths {
		if re.MatchString(p) {
			return tmpl
		}
	}
	return ""
}

// methods are the documented methods of a path, sorted.
func (s *oaSpec) methods(tmpl string) []string {
	item := s.doc.Paths.Value(tmpl)
	if item == nil {
		return nil
	}
	var out []string
	for m := range item.Operations() {
		out = append(out, strings.ToUpper(m))
	}
	sort.Strings(out)
	return out
}

// allowList reads an Allow header as a sorted list: the order allow()
// lists methods in is not part of the contract.
func allowList(h string) []string {
	var out []string
	for _, m := range strings.Split(h, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// Helpers that build the flow's requests.

func oaJSON(method, path, bearer string, body any, want int) oaCall {
	c := oaCall{method: method, path: path, header: http.Header{}, want: want}
	switch b := body.(type) {
	case nil:
	case string:
		c.body = []byte(b)
	case []byte:
		c.body = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		c.body = j
	}
	if c.body != nil {
		c.header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		c.header.Set("Authorization", "Bearer "+bearer)
	}
	return c
}

func oaForm(path, authorization string, form url.Values, want int) oaCall {
	c := oaCall{method: http.MethodPost, path: path, header: http.Header{}, body: []byte(form.Encode()), want: want}
	c.header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authorization != "" {
		c.header.Set("Authorization", authorization)
	}
	return c
}

func (c oaCall) invalid() oaCall { c.nonConforming = true; return c }

func (c oaCall) with(key, value string) oaCall {
	c.header = c.header.Clone()
	if c.header == nil {
		c.header = http.Header{}
	}
	c.header.Set(key, value)
	return c
}

func oaGet(path string, want int) oaCall {
	return oaCall{method: http.MethodGet, path: path, want: want}
}

func oaHead(path string, want int) oaCall {
	return oaCall{method: http.MethodHead, path: path, want: want}
}

// TestOpenAPIConformance runs an end-to-end flow over every documented
// operation against real data centers, validating each request and answer
// with kin-openapi, then fails if any documented operation went unused.
func TestOpenAPIConformance(t *testing.T) {
	d := newDC(t, testdc.Options{})
	// Assembled as gatehouse serve runs, so /metrics is registered and
	// exercised too.
	spec, raw := oaLoad(t, d.URL)
	do := func(t *testing.T, c oaCall) testkit.Response {
		t.Helper()
		return spec.do(t, d.URL, c)
	}
	admin := d.AdminToken()
	adminBasic := testkit.Basic(d.Admin.ID, d.Admin.Secret)
	grant := url.Values{"grant_type": {"client_credentials"}}

	t.Run("documentation", func(t *testing.T) {
		r := do(t, oaGet("/api/2/openapi.json", http.StatusOK))
		if !bytes.Equal(r.Body, raw) || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("served %s, %d bytes", r.Header.Get("Content-Type"), len(r.Body))
		}
		etag := r.Header.Get("ETag")
		do(t, oaGet("/api/2/openapi.json", http.StatusNotModified).with("If-None-Match", etag))
		do(t, oaGet("/api/2/openapi.json", http.StatusOK).with("If-None-Match", `"stale"`))
		do(t, oaHead("/api/2/openapi.json", http.StatusOK))
		do(t, oaHead("/api/2/openapi.json", http.StatusNotModified).with("If-None-Match", "W/"+etag))
		// Unauthenticated although under /api/2/: a bearer token is not needed.
		do(t, oaJSON(http.MethodPost, "/api/2/openapi.json", "", nil, http.StatusMethodNotAllowed))
	})

	t.Run("discovery and keys", func(t *testing.T) {
		for _, p := range []string{"/bc/.well-known/openid-configuration", "/.well-known/openid-configuration", "/bc/idp/keys", "/api/2/idp/keys"} {
			do(t, oaGet(p, http.StatusOK))
			do(t, oaHead(p, http.StatusOK))
		}
		do(t, oaJSON(http.MethodPost, "/bc/idp/keys", "", nil, http.StatusMethodNotAllowed))
	})

	t.Run("operations", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
			do(t, oaGet(p, http.StatusOK))
			do(t, oaHead(p, http.StatusOK))
		}
		do(t, oaGet("/console", http.StatusMovedPermanently))
		do(t, oaGet("/console/", http.StatusSeeOther))
		do(t, oaGet("/no-such-route", http.StatusNotFound))
		do(t, oaJSON(http.MethodDelete, "/healthz", "", nil, http.StatusMethodNotAllowed))
	})

	var app api.Client
	var appCreds testdc.Creds
	t.Run("token endpoint", func(t *testing.T) {
		do(t, oaForm("/bc/idp/token", adminBasic, grant, http.StatusOK))
		do(t, oaForm("/api/2/idp/token", adminBasic, grant, http.StatusOK))
		do(t, oaForm("/bc/idp/token", adminBasic, url.Values{"scope": {"x"}}, http.StatusBadRequest).invalid())
		do(t, oaForm("/bc/idp/token", adminBasic, url.Values{"grant_type": {"password"}}, http.StatusBadRequest).invalid())
		do(t, oaForm("/bc/idp/token", testkit.Basic(d.Admin.ID, "wrong"), grant, http.StatusUnauthorized))
		do(t, oaForm("/api/2/idp/token", "", grant, http.StatusUnauthorized))
		do(t, oaForm("/bc/idp/token?client_id=x", adminBasic, grant, http.StatusBadRequest))
		big := url.Values{"grant_type": {"client_credentials"}, "padding": {strings.Repeat("a", server.MaxBodyBytes)}}
		do(t, oaForm("/bc/idp/token", adminBasic, big, http.StatusRequestEntityTooLarge))
		do(t, oaGet("/bc/idp/token", http.StatusMethodNotAllowed))

		// A client of the other method authenticates in the body.
		r := do(t, oaJSON(http.MethodPost, "/api/2/clients", admin, api.CreateClientRequest{Type: "api_client", TokenEndpointAuthMethod: "client_secret_post"}, http.StatusCreated))
		var post api.Client
		r.JSON(t, &post)
		do(t, oaForm("/bc/idp/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {post.ClientID}, "client_secret": {post.ClientSecret}}, http.StatusOK))
	})

	t.Run("clients", func(t *testing.T) {
		r := do(t, oaJSON(http.MethodPost, "/api/2/clients", admin, map[string]any{"type": "api_client", "data": map[string]any{"client_name": "conformance"}}, http.StatusCreated))
		r.JSON(t, &app)
		appCreds = testdc.Creds{ID: app.ClientID, Secret: app.ClientSecret}
		if loc := r.Header.Get("Location"); loc != "/api/2/clients/"+app.ClientID {
			t.Errorf("Location = %q", loc)
		}
		do(t, oaJSON(http.MethodPost, "/api/2/clients", admin, map[string]any{"type": "api_client", "nope": 1}, http.StatusBadRequest).invalid())
		do(t, oaJSON(http.MethodPost, "/api/2/clients", admin, map[string]any{"type": "user"}, http.StatusBadRequest).invalid())
		do(t, oaJSON(http.MethodPost, "/api/2/clients", admin, "", http.StatusBadRequest).invalid())
		do(t, oaJSON(http.MethodPost, "/api/2/clients", admin, map[string]any{"type": "api_client", "tenant_id": "no-such-tenant"}, http.StatusNotFound))
		huge := map[string]any{"type": "api_client", "data": map[string]any{"x": strings.Repeat("a", server.MaxBodyBytes)}}
		do(t, oaJSON(http.MethodPost, "/api/2/clients", admin, huge, http.StatusRequestEntityTooLarge))

		r = do(t, oaJSON(http.MethodGet, "/api/2/clients?limit=1", admin, nil, http.StatusOK))
		var page api.ClientList
		r.JSON(t, &page)
		if page.Paging == nil {
			t.Fatalf("no next page: %s", r.Body)
		}
		do(t, oaJSON(http.MethodGet, "/api/2/clients?limit=2&after="+url.QueryEscape(page.Paging.Cursors.After), admin, nil, http.StatusOK))
		do(t, oaJSON(http.MethodGet, "/api/2/clients?tenant_id="+url.QueryEscape(app.TenantID), admin, nil, http.StatusOK))
		do(t, oaJSON(http.MethodGet, "/api/2/clients?tenant_id=no-such-tenant", admin, nil, http.StatusNotFound))
		do(t, oaJSON(http.MethodGet, "/api/2/clients?limit=0", admin, nil, http.StatusBadRequest).invalid())
		do(t, oaJSON(http.MethodGet, "/api/2/clients?limit=many", admin, nil, http.StatusBadRequest).invalid())
		r = do(t, oaJSON(http.MethodGet, "/api/2/clients?limit=5&q="+url.QueryEscape(strings.ToUpper(app.ClientID[:8])), admin, nil, http.StatusOK))
		var found api.ClientList
		r.JSON(t, &found)
		if len(found.Items) != 1 || found.Items[0].ClientID != app.ClientID {
			t.Errorf("searching for the app's id: %s", r.Body)
		}
		do(t, oaJSON(http.MethodGet, "/api/2/clients?q="+strings.Repeat("x", 201), admin, nil, http.StatusBadRequest).invalid())
		longName := map[string]any{"type": "api_client", "data": map[string]any{"client_name": strings.Repeat("n", 201)}}
		do(t, oaJSON(http.MethodPost, "/api/2/clients", admin, longName, http.StatusBadRequest).invalid())
		do(t, oaJSON(http.MethodDelete, "/api/2/clients", admin, nil, http.StatusMethodNotAllowed))

		// The app uses its credentials, so that last_access_* are set.
		appTok := d.Token(appCreds).AccessToken
		do(t, oaJSON(http.MethodGet, "/api/2/clients/"+app.ClientID, appTok, nil, http.StatusOK))
		do(t, oaJSON(http.MethodGet, "/api/2/clients/"+app.ClientID, admin, nil, http.StatusOK))
		do(t, oaJSON(http.MethodGet, "/api/2/clients/no-such-client", admin, nil, http.StatusNotFound))
		// A client that is not an admin may read itself only.
		do(t, oaJSON(http.MethodGet, "/api/2/clients", appTok, nil, http.StatusForbidden))
		do(t, oaJSON(http.MethodGet, "/api/2/clients/"+d.Admin.ID, appTok, nil, http.StatusForbidden))
		do(t, oaJSON(http.MethodPut, "/api/2/clients/"+app.ClientID, appTok, map[string]any{"status": "disabled"}, http.StatusForbidden))

		do(t, oaJSON(http.MethodPut, "/api/2/clients/"+app.ClientID, admin, map[string]any{"data": map[string]any{"client_name": "renamed", "team": "qa"}}, http.StatusOK))
		do(t, oaJSON(http.MethodPut, "/api/2/clients/"+app.ClientID, admin, map[string]any{"status": "disabled"}, http.StatusOK))
		do(t, oaJSON(http.MethodGet, "/api/2/clients/"+app.ClientID, appTok, nil, http.StatusUnauthorized)) // clientDisabled
		do(t, oaJSON(http.MethodPut, "/api/2/clients/"+app.ClientID, admin, map[string]any{"status": "enabled"}, http.StatusOK))
		do(t, oaJSON(http.MethodGet, "/api/2/clients/"+app.ClientID, appTok, nil, http.StatusUnauthorized)) // tokenRevoked
		do(t, oaJSON(http.MethodPut, "/api/2/clients/"+app.ClientID, admin, map[string]any{"status": "paused"}, http.StatusBadRequest).invalid())
		do(t, oaJSON(http.MethodPut, "/api/2/clients/"+app.ClientID, admin, map[string]any{"data": []int{1}}, http.StatusBadRequest).invalid())
		do(t, oaJSON(http.MethodPut, "/api/2/clients/no-such-client", admin, map[string]any{"status": "enabled"}, http.StatusNotFound))
		do(t, oaJSON(http.MethodPatch, "/api/2/clients/"+app.ClientID, admin, nil, http.StatusMethodNotAllowed))

		r = do(t, oaJSON(http.MethodPost, "/api/2/clients/"+app.ClientID+"/secret", admin, nil, http.StatusOK))
		var sec api.SecretResponse
		r.JSON(t, &sec)
		appCreds.Secret = sec.ClientSecret
		do(t, oaJSON(http.MethodPost, "/api/2/clients/no-such-client/secret", admin, nil, http.StatusNotFound))
		do(t, oaJSON(http.MethodGet, "/api/2/clients/"+app.ClientID+"/secret", admin, nil, http.StatusMethodNotAllowed))
	})

	t.Run("bearer failures", func(t *testing.T) {
		do(t, oaJSON(http.MethodGet, "/api/2/clients", "", nil, http.StatusUnauthorized).invalid())
		do(t, oaJSON(http.MethodGet, "/api/2/clients", "not-a-jwt", nil, http.StatusUnauthorized))
		do(t, oaJSON(http.MethodGet, "/api/2/clients", "", nil, http.StatusUnauthorized).with("Authorization", "Basic "+adminBasic[len("Basic "):]).invalid())
		// The bearer check comes before routing inside /api/2/.
		do(t, oaJSON(http.MethodGet, "/api/2/no-such-route", "", nil, http.StatusUnauthorized))
		do(t, oaJSON(http.MethodGet, "/api/2/no-such-route", admin, nil, http.StatusNotFound))
		// Another data center's token.
		other := newDC(t, testdc.Options{})
		do(t, oaJSON(http.MethodGet, "/api/2/datacenters", other.AdminToken(), nil, http.StatusUnauthorized))
		// A deleted client's token.
		_, gone := d.CreateClient(api.CreateClientRequest{})
		goneTok := d.Token(gone).AccessToken
		do(t, oaJSON(http.MethodDelete, "/api/2/clients/"+gone.ID, admin, nil, http.StatusNoContent))
		do(t, oaJSON(http.MethodGet, "/api/2/clients/"+gone.ID, goneTok, nil, http.StatusUnauthorized))
		do(t, oaJSON(http.MethodGet, "/api/2/clients/"+gone.ID, admin, nil, http.StatusNotFound))
		do(t, oaJSON(http.MethodDelete, "/api/2/clients/"+gone.ID, admin, nil, http.StatusNotFound))
	})

	t.Run("introspection and revocation", func(t *testing.T) {
		appTok := d.Token(appCreds).AccessToken
		appBasic := testkit.Basic(appCreds.ID, appCreds.Secret)
		r := do(t, oaForm("/bc/idp/introspect_token", adminBasic, url.Values{"token": {appTok}}, http.StatusOK))
		if !bytes.Contains(r.Body, []byte(`"active":true`)) {
			t.Errorf("introspection of a live token: %s", r.Body)
		}
		do(t, oaForm("/api/2/idp/introspect_token", "Bearer "+admin, url.Values{"token": {appTok}}, http.StatusOK))
		do(t, oaForm("/api/2/idp/introspect_token", "", url.Values{"token": {"garbage"}, "client_id": {d.Admin.ID}, "client_secret": {d.Admin.Secret}}, http.StatusUnauthorized)) // the admin is a basic client
		r = do(t, oaForm("/bc/idp/introspect_token", adminBasic, url.Values{"token": {"garbage"}}, http.StatusOK))
		if string(bytes.TrimSpace(r.Body)) != `{"active":false}` {
			t.Errorf("introspection of garbage: %s", r.Body)
		}
		do(t, oaForm("/bc/idp/introspect_token", adminBasic, url.Values{"token_type_hint": {"access_token"}}, http.StatusBadRequest).invalid())
		do(t, oaForm("/bc/idp/introspect_token", testkit.Basic(d.Admin.ID, "wrong"), url.Values{"token": {appTok}}, http.StatusUnauthorized))
		do(t, oaForm("/bc/idp/introspect_token", "Bearer not-a-jwt", url.Values{"token": {appTok}}, http.StatusUnauthorized))

		do(t, oaForm("/api/2/idp/revoke_token", appBasic, url.Values{"token": {""}}, http.StatusBadRequest).invalid())
		do(t, oaForm("/bc/idp/revoke_token", "", url.Values{"token": {appTok}}, http.StatusUnauthorized))
		do(t, oaForm("/bc/idp/revoke_token", appBasic, url.Values{"token": {appTok}, "token_type_hint": {"access_token"}}, http.StatusOK))
		do(t, oaForm("/api/2/idp/revoke_token", appBasic, url.Values{"token": {"unknown"}}, http.StatusOK))
		do(t, oaForm("/bc/idp/introspect_token", adminBasic, url.Values{"token": {appTok}}, http.StatusOK))
		do(t, oaJSON(http.MethodGet, "/api/2/clients/"+appCreds.ID, appTok, nil, http.StatusUnauthorized)) // tokenRevoked
	})

	t.Run("keys and audit", func(t *testing.T) {
		appTok := d.Token(appCreds).AccessToken
		do(t, oaJSON(http.MethodGet, "/api/2/keys", admin, nil, http.StatusOK))
		r := do(t, oaJSON(http.MethodPost, "/api/2/keys/rotate", admin, nil, http.StatusCreated))
		var k api.Key
		r.JSON(t, &k)
		r = do(t, oaJSON(http.MethodGet, "/api/2/keys", admin, nil, http.StatusOK))
		if !bytes.Contains(r.Body, []byte(k.KID)) {
			t.Errorf("rotated key %s not listed: %s", k.KID, r.Body)
		}
		do(t, oaJSON(http.MethodGet, "/api/2/keys", appTok, nil, http.StatusForbidden))
		do(t, oaJSON(http.MethodPost, "/api/2/keys/rotate", appTok, nil, http.StatusForbidden))
		do(t, oaJSON(http.MethodGet, "/api/2/keys/rotate", admin, nil, http.StatusMethodNotAllowed))

		r = do(t, oaJSON(http.MethodGet, "/api/2/audit?limit=1", admin, nil, http.StatusOK))
		var page api.AuditList
		r.JSON(t, &page)
		if page.Paging == nil {
			t.Fatalf("no next page of the audit log: %s", r.Body)
		}
		do(t, oaJSON(http.MethodGet, "/api/2/audit?after="+page.Paging.Cursors.After, admin, nil, http.StatusOK))
		do(t, oaJSON(http.MethodGet, "/api/2/audit?target="+url.QueryEscape(appCreds.ID), admin, nil, http.StatusOK))
		do(t, oaJSON(http.MethodGet, "/api/2/audit?after=yesterday", admin, nil, http.StatusBadRequest).invalid())
		do(t, oaJSON(http.MethodGet, "/api/2/audit?limit=1001", admin, nil, http.StatusBadRequest).invalid())
		do(t, oaJSON(http.MethodGet, "/api/2/audit", appTok, nil, http.StatusForbidden))
	})

	t.Run("tenants", func(t *testing.T) {
		appTok := d.Token(appCreds).AccessToken
		root := app.TenantID
		r := do(t, oaJSON(http.MethodPost, "/api/2/tenants", admin, api.CreateTenantRequest{Name: "Acme", Kind: "customer"}, http.StatusCreated))
		var acme api.Tenant
		r.JSON(t, &acme)
		if loc := r.Header.Get("Location"); loc != "/api/2/tenants/"+acme.ID {
			t.Errorf("Location = %q", loc)
		}
		do(t, oaJSON(http.MethodPost, "/api/2/tenants", admin, api.CreateTenantRequest{ParentID: acme.ID, Name: "Ops", Kind: "unit"}, http.StatusCreated))
		do(t, oaJSON(http.MethodPost, "/api/2/tenants", admin, map[string]any{"name": "X", "kind": "galaxy"}, http.StatusBadRequest).invalid())
		do(t, oaJSON(http.MethodPost, "/api/2/tenants", admin, map[string]any{"name": "X", "kind": "unit", "enabled": false}, http.StatusBadRequest).invalid())
		do(t, oaJSON(http.MethodPost, "/api/2/tenants", admin, api.CreateTenantRequest{ParentID: "no-such-tenant", Name: "X", Kind: "unit"}, http.StatusNotFound))
		do(t, oaJSON(http.MethodPost, "/api/2/tenants", appTok, api.CreateTenantRequest{Name: "X", Kind: "unit"}, http.StatusForbidden))
		do(t, oaJSON(http.MethodGet, "/api/2/tenants", admin, nil, http.StatusMethodNotAllowed))

		do(t, oaJSON(http.MethodGet, "/api/2/tenants/"+root, admin, nil, http.StatusOK)) // the root: no parent_id
		do(t, oaJSON(http.MethodGet, "/api/2/tenants/"+acme.ID, admin, nil, http.StatusOK))
		do(t, oaJSON(http.MethodGet, "/api/2/tenants/no-such-tenant", admin, nil, http.StatusNotFound))
		do(t, oaJSON(http.MethodGet, "/api/2/tenants/"+root+"/children", admin, nil, http.StatusOK))
		do(t, oaJSON(http.MethodGet, "/api/2/tenants/no-such-tenant/children", admin, nil, http.StatusNotFound))
		do(t, oaJSON(http.MethodGet, "/api/2/tenants/"+root+"/children", appTok, nil, http.StatusForbidden))

		path := "/api/2/tenants/" + acme.ID
		do(t, oaJSON(http.MethodPut, path, admin, map[string]any{"version": acme.Version, "name": "Acme Corp"}, http.StatusOK))
		do(t, oaJSON(http.MethodPut, path, admin, map[string]any{"version": acme.Version, "enabled": false}, http.StatusConflict))
		do(t, oaJSON(http.MethodPut, path, admin, map[string]any{"version": acme.Version + 1, "enabled": false}, http.StatusOK))
		do(t, oaJSON(http.MethodPut, path, admin, map[string]any{"version": acme.Version + 2}, http.StatusBadRequest).invalid())
		do(t, oaJSON(http.MethodPut, path, admin, map[string]any{"name": "No version"}, http.StatusBadRequest).invalid())
		do(t, oaJSON(http.MethodPut, path, admin, map[string]any{"version": acme.Version + 2, "kind": "unit"}, http.StatusBadRequest).invalid())
		do(t, oaJSON(http.MethodPut, "/api/2/tenants/"+root, admin, map[string]any{"version": 1, "enabled": false}, http.StatusForbidden))
		do(t, oaJSON(http.MethodPut, "/api/2/tenants/no-such-tenant", admin, map[string]any{"version": 1, "name": "X"}, http.StatusNotFound))
		do(t, oaJSON(http.MethodDelete, path, admin, nil, http.StatusMethodNotAllowed))
	})

	t.Run("data centers", func(t *testing.T) {
		appTok := d.Token(appCreds).AccessToken
		r := do(t, oaJSON(http.MethodGet, "/api/2/datacenters", appTok, nil, http.StatusOK))
		if !bytes.Contains(r.Body, []byte(`"self":true`)) {
			t.Errorf("datacenters: %s", r.Body)
		}
		do(t, oaJSON(http.MethodPost, "/api/2/datacenters", admin, nil, http.StatusMethodNotAllowed))
	})

	t.Run("locator", func(t *testing.T) {
		r := do(t, oaGet("/api/1/accounts?login="+url.QueryEscape(appCreds.ID), http.StatusOK))
		var acc locator.Account
		r.JSON(t, &acc)
		if acc.Login != appCreds.ID || acc.ServerURL != d.URL {
			t.Errorf("locate: %s", r.Body)
		}
		do(t, oaGet("/api/1/accounts?login=no-such-client", http.StatusNotFound))
		do(t, oaGet("/api/1/accounts", http.StatusBadRequest).invalid())
		do(t, oaGet("/api/1/accounts?login=", http.StatusBadRequest).invalid())
		do(t, oaJSON(http.MethodPost, "/api/1/accounts?login=x", "", nil, http.StatusMethodNotAllowed))
	})

	t.Run("global locator", func(t *testing.T) {
		// gatehouse locator answers the same route for the whole cloud:
		// its answers are held to the same document.
		us := newDC(t, testdc.Options{})
		_, usApp := us.CreateClient(api.CreateClientRequest{})
		junk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "oops", http.StatusInternalServerError)
		}))
		t.Cleanup(junk.Close)
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		newLocator := func(dcs ...gatehouse.Datacenter) string {
			l, err := locator.New(locator.Config{Datacenters: dcs, Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(l)
			t.Cleanup(hs.Close)
			return hs.URL
		}
		cloud := newLocator(gatehouse.Datacenter{ID: "eu8", URL: d.URL}, gatehouse.Datacenter{ID: "us5", URL: us.URL})
		r := spec.do(t, cloud, oaGet("/api/1/accounts?login="+url.QueryEscape(usApp.ID), http.StatusOK))
		var acc locator.Account
		r.JSON(t, &acc)
		if acc.DatacenterID != "us5" || acc.ServerURL != us.URL {
			t.Errorf("global locate: %s", r.Body)
		}
		spec.do(t, cloud, oaGet("/api/1/accounts?login=no-such-client", http.StatusNotFound))
		spec.do(t, cloud, oaGet("/api/1/accounts", http.StatusBadRequest).invalid())
		spec.do(t, newLocator(gatehouse.Datacenter{ID: "junk", URL: junk.URL}), oaGet("/api/1/accounts?login=x", http.StatusBadGateway))
		spec.do(t, newLocator(gatehouse.Datacenter{ID: "dead", URL: dead.URL}), oaGet("/api/1/accounts?login=x", http.StatusServiceUnavailable))
	})

	t.Run("rate-limited lookups", func(t *testing.T) {
		// After the global locator, which asks this data center too from
		// the same address. Past the limit of unknown logins per address:
		// 429 with Retry-After.
		for i := 0; i < 100; i++ {
			res, err := http.Get(d.URL + "/api/1/accounts?login=unknown-" + fmt.Sprint(i))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode == http.StatusTooManyRequests {
				do(t, oaGet("/api/1/accounts?login=unknown", http.StatusTooManyRequests))
				return
			}
		}
		t.Error("unknown logins were never limited")
	})

	t.Run("rate-limited token requests", func(t *testing.T) {
		// A data center of its own: the limit would refuse this test's
		// address everywhere else.
		rl := newDC(t, testdc.Options{})
		for i := 0; i < 100; i++ {
			r := rl.PostForm("/bc/idp/token", grant, testkit.Basic(rl.Admin.ID, "wrong"))
			if r.Status == http.StatusTooManyRequests {
				spec.do(t, rl.URL, oaForm("/bc/idp/token", testkit.Basic(rl.Admin.ID, "wrong"), grant, http.StatusTooManyRequests))
				return
			}
		}
		t.Error("failed authentications were never limited")
	})

	t.Run("expired token", func(t *testing.T) {
		d.Clock.Advance(3 * time.Hour)
		do(t, oaJSON(http.MethodGet, "/api/2/keys", admin, nil, http.StatusUnauthorized))
	})

	t.Run("store outage", func(t *testing.T) {
		// Last: the data center stays down. Closing the store makes every
		// store call fail as an unreachable database does.
		tok := d.Token(d.Admin).AccessToken
		// A client never used yet is in no cache: its token request must
		// read the store. (Clients in the cache of a data center that owns
		// its SQLite store keep working: nothing else can change them.)
		_, fresh := d.CreateClient(api.CreateClientRequest{})
		d.StoreTakenAway()
		d.Store.Close()
		do(t, oaGet("/readyz", http.StatusServiceUnavailable))
		do(t, oaHead("/readyz", http.StatusServiceUnavailable))
		do(t, oaForm("/bc/idp/token", testkit.Basic(fresh.ID, fresh.Secret), grant, http.StatusServiceUnavailable))
		do(t, oaJSON(http.MethodGet, "/api/2/clients", tok, nil, http.StatusServiceUnavailable))
	})

	t.Run("every documented operation was exercised", func(t *testing.T) {
		var missing []string
		for _, p := range spec.doc.Paths.InMatchingOrder() {
			for _, m := range spec.methods(p) {
				if !spec.seen[m+" "+p] {
					missing = append(missing, m+" "+p)
				}
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("documented operations the flow never called, so never checked against the server:\n  %s", strings.Join(missing, "\n  "))
		}
	})
}

// routeLine finds the routes registered in server.go: the pattern of each
// Handle or HandleFunc call, and the methods passed to allow() on the same
// line or in the variable handed to it.
var (
	routeLine = regexp.MustCompile(`(?m)^\s*\w+\.Handle(?:Func)?\(\s*"([^"]+)"\s*,\s*(.*)$`)
	allowVar  = regexp.MustCompile(`(?m)^\s*(\w+)\s*:=\s*allow\((.*)$`)
	methodArg = regexp.MustCompile(`http\.Method(\w+)`)
)

// fallbackPatterns are the catch-alls of server.go, which answer every path
// no route claims: "/" (404 notFound) and "/api/2/", the bearer-protected
// account API whose own "/" is also 404 notFound. They are not routes, and
// the document says so (components.responses.RouteNotFound); the flow
// checks their answers.
var fallbackPatterns = map[string]bool{"/": true, "/api/2/": true}

type sourceRoute struct {
	pattern string
	methods []string // nil when the handler is not wrapped by allow()
}

func sourceRoutes(t *testing.T) []sourceRoute {
	t.Helper()
	src, err := os.ReadFile("server.go")
	if err != nil {
		t.Fatal(err)
	}
	methodsOf := func(args string) []string {
		var out []string
		for _, m := range methodArg.FindAllStringSubmatch(args, -1) {
			out = append(out, strings.ToUpper(m[1]))
		}
		return out
	}
	vars := map[string][]string{}
	for _, m := range allowVar.FindAllStringSubmatch(string(src), -1) {
		vars[m[1]] = methodsOf(m[2])
	}
	var out []sourceRoute
	for _, m := range routeLine.FindAllStringSubmatch(string(src), -1) {
		pattern, rest := m[1], strings.TrimSpace(m[2])
		r := sourceRoute{pattern: pattern}
		// Go 1.22 patterns may name their method: "GET /path".
		if method, p, ok := strings.Cut(pattern, " "); ok {
			r.pattern, r.methods = strings.TrimSpace(p), []string{method}
			if method == http.MethodGet {
				r.methods = append(r.methods, http.MethodHead)
			}
		} else if strings.HasPrefix(rest, "allow(") {
			r.methods = methodsOf(rest)
		} else if ms, ok := vars[strings.TrimSuffix(rest, ")")]; ok {
			r.methods = ms
		}
		out = append(out, r)
	}
	if len(out) < 20 {
		t.Fatalf("found only %d routes in server.go: has the way routes are registered changed? Update sourceRoutes.", len(out))
	}
	return out
}

// TestOpenAPIDocumentsEveryRoute fails when server.go registers a route the
// document lacks, or a method it does not document, and when the document
// names a path or method the server does not answer: from server.go's
// source, and by probing the running server.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	d := newDC(t, testdc.Options{})
	spec, _ := oaLoad(t, d.URL)
	admin := d.AdminToken()

	t.Run("source", func(t *testing.T) {
		for _, r := range sourceRoutes(t) {
			if fallbackPatterns[r.pattern] {
				continue
			}
			if spec.doc.Paths.Value(r.pattern) == nil {
				t.Errorf("server.go registers %s, which the document lacks", r.pattern)
				continue
			}
			if r.methods == nil {
				continue
			}
			want := slices.Clone(r.methods)
			sort.Strings(want)
			if got := spec.methods(r.pattern); !slices.Equal(got, want) {
				t.Errorf("%s: the document has methods %v, server.go allows %v", r.pattern, got, want)
			}
		}
	})

	t.Run("probe", func(t *testing.T) {
		// allow() answers any method a route lacks with 405 and the list of
		// those it has, so a method no route uses (OPTIONS) reveals the
		// methods of every path as the server really routes them.
		for _, p := range spec.doc.Paths.InMatchingOrder() {
			if strings.HasPrefix(p, "/console") {
				continue // the console's own mux answers there, not allow()
			}
			path := strings.NewReplacer("{id}", "probe").Replace(p)
			req, _ := http.NewRequest(http.MethodOptions, d.URL+path, nil)
			if spec.doc.Paths.Value(p).GetOperation(spec.methods(p)[0]).Security == nil {
				// The document's default: a bearer token, checked before
				// the account API routes the request.
				req.Header.Set("Authorization", "Bearer "+admin)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("OPTIONS %s = %d: the server has no such route, or answers any method there", path, res.StatusCode)
				continue
			}
			if got, want := allowList(res.Header.Get("Allow")), spec.methods(p); !slices.Equal(got, want) {
				t.Errorf("%s: the server allows %v, the document has %v", p, got, want)
			}
		}
	})

	t.Run("fallbacks", func(t *testing.T) {
		for _, c := range []oaCall{
			oaGet("/no-such-route", http.StatusNotFound),
			oaJSON(http.MethodGet, "/api/2/no-such-route", admin, nil, http.StatusNotFound),
			oaJSON(http.MethodGet, "/bc/idp/no-such-route", admin, nil, http.StatusNotFound),
		} {
			spec.do(t, d.URL, c)
		}
	})
}
