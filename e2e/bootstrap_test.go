package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestBootstrapGenerated starts on an empty data directory without
// bootstrap variables: the server must create an admin, write its
// credentials to a 0600 file (and only there, not to the log), and on a
// second start must neither rewrite the file nor create another admin.
func TestBootstrapGenerated(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	file := filepath.Join(s.DataDir, "bootstrap-client.json")

	fi, err := os.Stat(file)
	if err != nil {
		t.Fatalf("bootstrap file: %v", err)
	}
	if runtime.GOOS != "windows" {
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("bootstrap file mode %v, want 0600", perm)
		}
		// The directory holds the file and the database (secret hashes,
		// signing keys): nobody else may list or enter it either.
		if di, err := os.Stat(s.DataDir); err != nil {
			t.Fatal(err)
		} else if perm := di.Mode().Perm(); perm != 0o700 {
			t.Errorf("data directory mode %v, want 0700", perm)
		}
	}
	boot := s.bootstrapCreds(t)
	if boot.ClientID == "" || boot.ClientSecret == "" || boot.TenantID == "" {
		t.Fatalf("bootstrap file lacks a field: %+v", boot)
	}
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}

	tok := s.token(t, boot.ClientID, boot.ClientSecret)
	c, status := s.getClient(t, tok.AccessToken, boot.ClientID)
	if status != 200 {
		t.Fatalf("GET own client with bootstrap token: %d", status)
	}
	if c.ClientID != boot.ClientID || c.TenantID != boot.TenantID || c.Status != "enabled" {
		t.Errorf("bootstrap client %+v does not match the file %+v", c, boot)
	}

	// Second start on the same directory. The first process is stopped
	// first, which also makes its log complete.
	s.kill()
	log := s.stderr.String()
	if !strings.Contains(log, file) {
		t.Errorf("log does not name the bootstrap file %s:\n%s", file, log)
	}
	if strings.Contains(log, boot.ClientSecret) {
		t.Errorf("log contains the bootstrap secret")
	}

	s2 := startServer(t, serverOpts{dataDir: s.DataDir})
	s2.noteCred(boot.ClientSecret)
	after, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("second start rewrote the bootstrap file:\nbefore %s\nafter  %s", before, after)
	}
	s2.waitLog(t, "gatehouse listening")
	if strings.Contains(s2.stderr.String(), "bootstrapped") {
		t.Errorf("second start logged a bootstrap:\n%s", s2.stderr.String())
	}
	// The generated-but-unused credentials of the second start must not be
	// left behind in a temporary file.
	leftovers, _ := filepath.Glob(filepath.Join(s.DataDir, "bootstrap-client.json.*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary bootstrap files left behind: %v", leftovers)
	}
	tok2 := s2.token(t, boot.ClientID, boot.ClientSecret)
	list := s2.listClients(t, tok2.AccessToken)
	if len(list) != 1 || list[0].ClientID != boot.ClientID {
		t.Errorf("after a second start the clients are %+v, want only the bootstrap admin %s", list, boot.ClientID)
	}
}

// validSecret is 43 URL-unreserved characters, the shortest secret the
// server accepts from an operator.
const validSecret = "opsSecret-0123456789_abcdefghijklmnopqrstuv"

// TestBootstrapFromEnv checks operator-chosen bootstrap credentials: they
// work, and no credentials file is written since the operator has them.
func TestBootstrapFromEnv(t *testing.T) {
	t.Parallel()
	if len(validSecret) != 43 {
		t.Fatalf("validSecret has %d characters", len(validSecret))
	}
	const id = "ops.admin_1~x-y"
	s := startServer(t, serverOpts{env: []string{
		"GATEHOUSE_BOOTSTRAP_CLIENT_ID=" + id,
		"GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + validSecret,
	}})
	s.noteCred(validSecret)

	if _, err := os.Stat(filepath.Join(s.DataDir, "bootstrap-client.json")); !os.IsNotExist(err) {
		t.Errorf("bootstrap-client.json written although credentials came from the environment (stat: %v)", err)
	}
	if m, _ := filepath.Glob(filepath.Join(s.DataDir, "bootstrap-client.json*")); len(m) != 0 {
		t.Errorf("bootstrap files written: %v", m)
	}
	tok := s.token(t, id, validSecret)
	c, status := s.getClient(t, tok.AccessToken, id)
	if status != 200 || c.ClientID != id {
		t.Fatalf("GET /api/2/clients/%s with the env admin's token: %d %+v", id, status, c)
	}
	// The admin can administer: listing needs tenant_admin.
	if list := s.listClients(t, tok.AccessToken); len(list) != 1 {
		t.Errorf("clients %+v, want just the env admin", list)
	}
	s.wantInvalidClient(t, id, validSecret[:42]+"X", "env admin with a wrong secret")

	// Deployments keep the variables set across restarts: a restart on
	// the bootstrapped store must start normally and not add an admin.
	s.kill()
	s2 := startServer(t, serverOpts{dataDir: s.DataDir, env: []string{
		"GATEHOUSE_BOOTSTRAP_CLIENT_ID=" + id,
		"GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + validSecret,
	}})
	s2.noteCred(validSecret)
	tok2 := s2.token(t, id, validSecret)
	if list := s2.listClients(t, tok2.AccessToken); len(list) != 1 || list[0].ClientID != id {
		t.Errorf("after a restart with the same variables the clients are %+v, want just %s", list, id)
	}
}

// TestBootstrapFromEnvRefused checks that bad operator credentials stop the
// server before it touches anything, with one line that explains why and
// does not repeat the secret (which would then sit in a log collector).
func TestBootstrapFromEnvRefused(t *testing.T) {
	t.Parallel()
	secret42 := validSecret[:42]
	tests := []struct {
		name     string
		env      []string
		secret   string // must not be printed
		wantText string
	}{
		{"secret of 42 characters", []string{"GATEHOUSE_BOOTSTRAP_CLIENT_ID=ops", "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + secret42}, secret42, "at least 43"},
		{"id with a space", []string{"GATEHOUSE_BOOTSTRAP_CLIENT_ID=ops admin", "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + validSecret}, validSecret, "client id may use only"},
		{"id with a plus", []string{"GATEHOUSE_BOOTSTRAP_CLIENT_ID=ops+admin", "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + validSecret}, validSecret, "client id may use only"},
		{"id with a percent", []string{"GATEHOUSE_BOOTSTRAP_CLIENT_ID=ops%20admin", "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + validSecret}, validSecret, "client id may use only"},
		{"id of 129 characters", []string{"GATEHOUSE_BOOTSTRAP_CLIENT_ID=" + strings.Repeat("a", 129), "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + validSecret}, validSecret, "1 to 128"},
		{"only the id", []string{"GATEHOUSE_BOOTSTRAP_CLIENT_ID=ops"}, "", "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET"},
		{"only the secret", []string{"GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + validSecret}, validSecret, "GATEHOUSE_BOOTSTRAP_CLIENT_ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			s := launch(t, serverOpts{dataDir: dir, env: tt.env}, freePort(t))
			s.noteCred(tt.secret)
			if code := s.waitExit(t, exitTimeout); code == 0 {
				t.Fatalf("exit code 0, want non-zero")
			}
			stderr := s.stderr.String()
			wantOneLine(t, stderr)
			if !strings.Contains(stderr, tt.wantText) {
				t.Errorf("stderr %q does not say %q", stderr, tt.wantText)
			}
			if tt.secret != "" && strings.Contains(stderr, tt.secret) {
				t.Errorf("stderr repeats the secret: %q", stderr)
			}
			// Refused before anything started: no store, no directory.
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("data directory created although the credentials were refused (stat: %v)", err)
			}
		})
	}
}
