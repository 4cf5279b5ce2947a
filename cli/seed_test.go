package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/bench"
	"github.com/gatehouse-dev/gatehouse/cli"
)

func TestClientsSeed(t *testing.T) {
	d := newBenchDC(t)
	file := filepath.Join(t.TempDir(), "creds.jsonl")
	code, out, errOut := gatehouse(t, "clients", "seed", "--count", "50", "--credentials", file, "--batch", "7", "--concurrency", "4", "--name-prefix", "load-")
	if code != 0 {
		t.Fatalf("seed: exit %d, stderr %q", code, errOut)
	}
	if out != "" {
		t.Errorf("seed printed %q on stdout; progress belongs on stderr", out)
	}
	if !strings.Contains(errOut, "Created 50 clients") {
		t.Errorf("stderr %q lacks the summary", errOut)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode %v, want 0600", fi.Mode().Perm())
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n"); len(lines) != 50 {
		t.Fatalf("%d lines, want 50", len(lines))
	}
	// The file is what bench tokens reads.
	creds, err := bench.ReadCredentialsFile(file)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	hc := bench.NewHTTPClient(1)
	for _, c := range creds {
		if seen[c.ClientID] {
			t.Fatalf("client %s twice in the file", c.ClientID)
		}
		seen[c.ClientID] = true
		if _, err := bench.FetchToken(t.Context(), hc, d.URL, c); err != nil {
			t.Fatalf("credentials of %s do not get a token: %v", c.ClientID, err)
		}
	}
	names := map[string]bool{}
	for _, c := range creds {
		var data struct {
			ClientName string `json:"client_name"`
		}
		if err := json.Unmarshal(d.getClient(t, c.ClientID).Data, &data); err != nil {
			t.Fatal(err)
		}
		names[data.ClientName] = true
	}
	for _, want := range []string{"load-01", "load-50"} {
		if !names[want] {
			t.Errorf("no client named %s among %v", want, names)
		}
	}

	// The file is never overwritten without --force, and then keeps 0600.
	code, _, errOut = gatehouse(t, "clients", "seed", "--count", "1", "--credentials", file)
	if code == 0 || !strings.Contains(errOut, "--force") {
		t.Fatalf("seed over an existing file: exit %d, stderr %q", code, errOut)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "clients", "seed", "--count", "2", "--credentials", file, "--force")
	if creds, err := bench.ReadCredentialsFile(file); err != nil || len(creds) != 2 {
		t.Fatalf("after --force: %d credentials, %v", len(creds), err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("after --force the mode is %v, want 0600", fi.Mode().Perm())
	}
}

func TestClientsSeedErrors(t *testing.T) {
	d := newBenchDC(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--credentials", filepath.Join(dir, "a")}, "--count"},
		{[]string{"--count", "3"}, "--credentials"},
		{[]string{"--count", "3", "--credentials", filepath.Join(dir, "b"), "--batch", "0"}, "--batch"},
		{[]string{"--count", "3", "--credentials", filepath.Join(dir, "c"), "--concurrency", "0"}, "--concurrency"},
		{[]string{"--count", "3", "--credentials", filepath.Join(dir, "no", "such", "dir")}, "no such file"},
	} {
		code, _, errOut := gatehouse(t, append([]string{"clients", "seed"}, tc.args...)...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("seed %v: exit %d, stderr %q, want an error about %s", tc.args, code, errOut, tc.want)
		}
	}

	// A caller without tenant_admin is refused at the first client; the
	// file is left, empty, with nothing lost.
	plain := d.createClient(t)
	file := filepath.Join(dir, "refused")
	var out, errOut strings.Builder
	t.Setenv("GATEHOUSE_CLIENT_ID", plain.ClientID)
	t.Setenv("GATEHOUSE_CLIENT_SECRET", plain.ClientSecret)
	code := cli.Main(context.Background(), []string{"clients", "seed", "--count", "5", "--credentials", file}, &out, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), "created 0 of 5") {
		t.Fatalf("seed as a plain client: exit %d, stderr %q", code, errOut.String())
	}
	if b, err := os.ReadFile(file); err != nil || len(b) != 0 {
		t.Fatalf("credentials file after refusal: %q, %v", b, err)
	}
}
