package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testdc"
)

// startDC starts a real data center, assembled as gatehouse serve
// assembles one, and returns its URL and the bootstrap admin's credentials.
func startDC(t *testing.T) (url, id, secret string) {
	t.Helper()
	d := testdc.Start(t, testdc.Options{AdminID: "app-example-admin"})
	return d.URL, d.Admin.ID, d.Admin.Secret
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestRunPrintsOwnClient(t *testing.T) {
	dc, id, secret := startDC(t)
	var out bytes.Buffer
	err := run(context.Background(), env(map[string]string{
		"GATEHOUSE_DATACENTER_URL": dc, "GATEHOUSE_CLIENT_ID": id, "GATEHOUSE_CLIENT_SECRET": secret,
	}), &out)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var got struct {
		ClientID string `json:"client_id"`
		Status   string `json:"status"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output %q is not JSON: %v", out.String(), err)
	}
	if got.ClientID != id || got.Status != "enabled" {
		t.Errorf("printed %+v, want client %s enabled", got, id)
	}
	if strings.Contains(out.String(), secret) {
		t.Error("output contains the secret")
	}
}

func TestRunErrors(t *testing.T) {
	dc, id, secret := startDC(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"nothing set", nil, "missing configuration: set GATEHOUSE_DATACENTER_URL, GATEHOUSE_CLIENT_ID, GATEHOUSE_CLIENT_SECRET"},
		{"no secret", map[string]string{"GATEHOUSE_DATACENTER_URL": dc, "GATEHOUSE_CLIENT_ID": id}, "missing configuration: set GATEHOUSE_CLIENT_SECRET"},
		{"wrong secret", map[string]string{"GATEHOUSE_DATACENTER_URL": dc, "GATEHOUSE_CLIENT_ID": id, "GATEHOUSE_CLIENT_SECRET": secret + "x"},
			"authenticating at " + dc + ": 401 invalid_client: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), env(tc.env), &out)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to start with %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("printed %q on failure", out.String())
			}
		})
	}
}
