//go:build unix

package e2e

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGracefulShutdown checks that the signals a supervisor sends (systemd
// and Kubernetes SIGTERM, a terminal SIGINT) stop the server cleanly: exit
// status 0, promptly, and through the shutdown path rather than a crash.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		sig  os.Signal
	}{{"SIGTERM", syscall.SIGTERM}, {"SIGINT", syscall.SIGINT}} {
		sig := tt.sig
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, serverOpts{})
			boot := s.bootstrapCreds(t)
			admin := s.token(t, boot.ClientID, boot.ClientSecret).AccessToken
			// A client whose token request leaves an access noted in
			// memory only (they are written lazily); an orderly shutdown
			// must write it, a crash need not.
			c := s.createClient(t, admin, "accessed")
			s.token(t, c.ClientID, c.ClientSecret)

			start := time.Now()
			if err := s.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			// The server's grace period for in-flight requests is 10s;
			// with none in flight it must not come near it.
			if code := s.waitExit(t, 5*time.Second); code != 0 {
				t.Fatalf("exit code %d after %v, want 0; stderr:\n%s", code, sig, s.stderr.String())
			}
			t.Logf("exited %s after %v", time.Since(start).Round(time.Millisecond), sig)
			log := s.stderr.String()
			if !strings.Contains(log, "gatehouse stopped") {
				t.Errorf("log does not show an orderly stop:\n%s", log)
			}
			// Only what follows the signal counts: the first start warns,
			// rightly, that it generated a master key.
			_, shutdown, _ := strings.Cut(log, "gatehouse listening")
			if strings.Contains(shutdown, "level=ERROR") || strings.Contains(shutdown, "level=WARN") {
				t.Errorf("shutdown logged a warning or error:\n%s", log)
			}

			// Read the client as the admin after a restart: the admin's own
			// fresh access is overlaid from memory, the client's can only
			// come from the store.
			s2 := startServer(t, serverOpts{dataDir: s.DataDir})
			s2.noteCred(boot.ClientSecret, c.ClientSecret)
			r := s2.do(t, http.MethodGet, "/api/2/clients/"+c.ClientID, bearer(s2.token(t, boot.ClientID, boot.ClientSecret).AccessToken), nil)
			r.Want(t, http.StatusOK, "GET client after restart")
			var got struct {
				LastAccessAt *time.Time `json:"last_access_at"`
			}
			r.JSON(t, &got)
			if got.LastAccessAt == nil || time.Since(*got.LastAccessAt) > time.Minute {
				t.Errorf("last_access_at after an orderly stop: %v, want the token request's time (body %s)", got.LastAccessAt, r.Body)
			}
		})
	}
}
