package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
)

// FuzzDecodeJSON: the strict JSON decoding of the account API's bodies
// never panics, refuses only with a 400 validation error or the size
// error, and what it accepts is exactly one JSON value naming only known
// fields, with nothing but whitespace after it.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"type":"api_client"}`,
		`{"type":"api_client","tenant_id":"t","token_endpoint_auth_method":"client_secret_post","role":"tenant_admin","data":{"client_name":"x"}}`,
		`{"status":"disabled"}`,
		`{"status":"enabled","data":{"a":[1,2,{"b":null}]}}`,
		`{"status":null}`,
		`{"Type":"api_client"}`,
		`{"typo":1}`,
		`{"type":"api_client"} {}`,
		`{"type":"api_client"}x`,
		`{"type":"api_client"}` + "\n\t ",
		`{} []`,
		`{}`, `null`, ``, ` `, `[]`, `"x"`, `1`, `{`, `{"data":}`, `{"data":{"x":1}`,
		`{"type":1}`, `{"status":"x","status":"y"}`, `{"data":"\ud800"}`, "{\"\xff\":1}",
		strings.Repeat("[", 1000) + strings.Repeat("]", 1000),
		`{"data":` + strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 200) + `}`,
	} {
		f.Add([]byte(s))
	}
	targets := []struct {
		name   string
		new    func() any
		fields []string
	}{
		{"CreateClientRequest", func() any { return new(api.CreateClientRequest) }, []string{"type", "tenant_id", "token_endpoint_auth_method", "role", "data"}},
		{"UpdateClientRequest", func() any { return new(api.UpdateClientRequest) }, []string{"status", "data"}},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, target := range targets {
			req := httptest.NewRequest(http.MethodPost, "/api/2/clients", bytes.NewReader(body))
			rec := httptest.NewRecorder()
			err := decodeJSON(rec, req, target.new())
			if err != nil {
				var ge *gatehouse.Error
				switch {
				case errors.Is(err, errTooLarge):
					if len(body) <= MaxBodyBytes {
						t.Fatalf("%s: %d bytes refused as too large", target.name, len(body))
					}
				case errors.As(err, &ge) && errors.Is(err, gatehouse.ErrInvalid) && ge.Code == gatehouse.CodeValidationError:
				default:
					t.Fatalf("%s: error %v is not a validation error", target.name, err)
				}
				continue
			}

			// Accepted: one JSON value, then only whitespace.
			dec := json.NewDecoder(bytes.NewReader(body))
			var value json.RawMessage
			if err := dec.Decode(&value); err != nil {
				t.Fatalf("%s: accepted %q, which is not JSON: %v", target.name, body, err)
			}
			if rest := bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n"); len(rest) != 0 {
				t.Fatalf("%s: accepted %q with trailing data %q", target.name, body, rest)
			}
			// Accepted: if an object, every member is a known field, as
			// encoding/json matches them (case-insensitively).
			var members map[string]json.RawMessage
			// (Only an object or null gets this far: any other value is a
			// type error. null leaves members empty.)
			if err := json.Unmarshal(value, &members); err != nil {
				t.Fatalf("%s: accepted %q, which is not an object: %v", target.name, body, err)
			}
		member:
			for name := range members {
				for _, known := range target.fields {
					if strings.EqualFold(name, known) {
						continue member
					}
				}
				t.Fatalf("%s: accepted %q with unknown field %q", target.name, body, name)
			}
		}
	})
}
