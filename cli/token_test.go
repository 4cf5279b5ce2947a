package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/api"
)

func TestTokenPrintsResponse(t *testing.T) {
	newFakeDC(t)
	out := mustRun(t, "token")
	var tok api.TokenResponse
	if err := json.Unmarshal([]byte(out), &tok); err != nil {
		t.Fatalf("token printed non-JSON %q: %v", out, err)
	}
	if tok.AccessToken == "" || tok.TokenType != "bearer" || tok.ExpiresIn != 7200 || tok.ExpiresOn == 0 {
		t.Errorf("token = %+v", tok)
	}
	if !strings.HasPrefix(out, "{\n  \"access_token\"") {
		t.Errorf("token output is not indented JSON:\n%s", out)
	}
}

func TestTokenAccessTokenOnly(t *testing.T) {
	newFakeDC(t)
	out := mustRun(t, "token", "--access-token-only")
	if !strings.HasPrefix(out, "eyJ") || strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Errorf("--access-token-only printed %q, want the token and a newline", out)
	}
}

func TestTokenFlagsOverrideEnvironment(t *testing.T) {
	f := newFakeDC(t)
	t.Setenv("GATEHOUSE_DATACENTER_URL", "http://127.0.0.1:1")
	t.Setenv("GATEHOUSE_CLIENT_ID", "someone-else")
	t.Setenv("GATEHOUSE_CLIENT_SECRET", "")
	mustRun(t, "token", "--datacenter-url", f.srv.URL+"/", "--client-id", adminID, "--client-secret", adminSecret)
}

func TestTokenErrors(t *testing.T) {
	newFakeDC(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"missing id", map[string]string{"GATEHOUSE_CLIENT_ID": ""}, nil,
			"gatehouse: missing client ID: set --client-id or GATEHOUSE_CLIENT_ID\n"},
		{"missing secret", map[string]string{"GATEHOUSE_CLIENT_SECRET": ""}, nil,
			"gatehouse: missing client secret: set GATEHOUSE_CLIENT_SECRET or --client-secret\n"},
		{"wrong secret", map[string]string{"GATEHOUSE_CLIENT_SECRET": adminSecret + "x"}, nil,
			"gatehouse: 401 invalid_client: Client authentication failed.\n"},
		{"bad URL", nil, []string{"--datacenter-url", "localhost:8080"},
			`gatehouse: --datacenter-url: client: data center URL "localhost:8080" must be absolute and use http or https` + "\n"},
		{"stray argument", nil, []string{"extra"},
			`gatehouse: unknown command "extra" for "gatehouse token"` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errOut := gatehouse(t, append([]string{"token"}, tc.args...)...)
			if code != 1 || out != "" || errOut != tc.want {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, stderr %q", code, out, errOut, tc.want)
			}
			if strings.Contains(errOut, adminSecret) {
				t.Error("stderr contains the secret")
			}
		})
	}
}

// The secret's environment twin must not surface as a flag default, which
// --help would print.
func TestHelpDoesNotShowSecret(t *testing.T) {
	newFakeDC(t)
	for _, args := range [][]string{{"token", "--help"}, {"clients", "--help"}, {"clients", "create", "--help"}} {
		code, out, errOut := gatehouse(t, args...)
		if code != 0 {
			t.Errorf("%v: exit %d", args, code)
		}
		if strings.Contains(out+errOut, adminSecret) {
			t.Errorf("%v prints the secret", args)
		}
		if !strings.Contains(out, "--client-secret") {
			t.Errorf("%v: help lacks --client-secret:\n%s", args, out)
		}
	}
}
