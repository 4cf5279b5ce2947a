package testkit

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/api"
)

// Response is an HTTP answer read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON parses the body into v, failing the test if it is not JSON of v's
// shape.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.Body, err)
	}
}

// APIError is the body's account-API error.
func (r Response) APIError(t testing.TB) api.ErrorDetail {
	t.Helper()
	var e api.ErrorBody
	r.JSON(t, &e)
	return e.Error
}

// Want fails the test unless the status is status; what names the request.
func (r Response) Want(t testing.TB, status int, what string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.Status, status, r.Body)
	}
}

// Do sends req with c and reads the whole answer, failing the test if
// there is none.
func Do(t testing.TB, c *http.Client, req *http.Request) Response {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL.Path, err)
	}
	return Response{res.StatusCode, res.Header, b}
}

// Basic is the RFC 6749 2.3.1 Authorization value of a client's
// credentials: each form-encoded, then HTTP Basic.
func Basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// Get sends a GET with an Authorization header ("" sends none) and reads
// the whole answer.
func Get(t testing.TB, u, authorization string) Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return Do(t, http.DefaultClient, req)
}

// WantBearerRefused checks an account-API refusal of a bearer token: 401,
// the error code in the AccountServer domain with a message, the RFC 6750
// challenge (with invalid_token unless the token is missing), and a body
// that does not echo secret (such as the token's signature).
func (r Response) WantBearerRefused(t testing.TB, code, secret string) {
	t.Helper()
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	if e := r.APIError(t); e.Code != code || e.Domain != "AccountServer" || e.Message == "" {
		t.Errorf("error = %+v, want code %s", e, code)
	}
	wa := r.Header.Get("WWW-Authenticate")
	if code == "bearerTokenMissing" {
		if wa != `Bearer realm="gatehouse"` {
			t.Errorf("WWW-Authenticate = %q", wa)
		}
	} else if !strings.HasPrefix(wa, `Bearer realm="gatehouse", error="invalid_token", error_description="`) {
		t.Errorf("WWW-Authenticate = %q", wa)
	}
	if strings.Contains(string(r.Body), secret) {
		t.Error("the answer echoes the token")
	}
}
