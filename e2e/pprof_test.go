package e2e

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestProfiles checks that --pprof-listen serves Go's profiles on its own
// loopback address and that the public listener never has them.
func TestProfiles(t *testing.T) {
	t.Parallel()
	// "localhost" is taken, and bound to whichever loopback address it
	// resolves to.
	s := startServer(t, serverOpts{args: []string{"--pprof-listen", "localhost:0"}})
	s.waitLog(t, "serving profiles")
	m := regexp.MustCompile(`serving profiles.*addr=(http://(127\.0\.0\.1|\[::1\]):\d+/debug/pprof/)`).FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatalf("no profile address in the log:\n%s", s.stderr.String())
	}
	profiles := m[1]

	tests := []struct {
		url      string
		want     int
		wantBody string
	}{
		{profiles, http.StatusOK, "goroutine"},
		{profiles + "heap?debug=1", http.StatusOK, "heap profile"},
		{profiles + "symbol", http.StatusOK, "num_symbols"},
		{profiles + "profile?seconds=1", http.StatusOK, ""},
		// The command line can carry a database password.
		{profiles + "cmdline", http.StatusNotFound, "not found"},
		{profiles + "profile?seconds=3600", http.StatusBadRequest, "seconds"},
		{profiles + "trace?seconds=-1", http.StatusBadRequest, "seconds"},
		{s.URL + "/debug/pprof/", http.StatusNotFound, "notFound"},
		{s.URL + "/debug/pprof/cmdline", http.StatusNotFound, "notFound"},
		{s.URL + "/debug/pprof/heap", http.StatusNotFound, "notFound"},
	}
	for _, tt := range tests {
		resp, err := httpClient.Get(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || !strings.Contains(string(body), tt.wantBody) {
			t.Errorf("GET %s: %d %.120q, want %d containing %q", tt.url, resp.StatusCode, body, tt.want, tt.wantBody)
		}
	}
}

// TestProfilesRefusedOffLoopback checks that the server will not start
// with profiles on an address other machines could reach.
func TestProfilesRefusedOffLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:6060", "example.com:6060", "127.0.0.1"} {
		t.Run(addr, func(t *testing.T) {
			t.Parallel()
			s := launch(t, serverOpts{dataDir: filepath.Join(t.TempDir(), "data"), args: []string{"--pprof-listen", addr}}, freePort(t))
			if code := s.waitExit(t, exitTimeout); code == 0 {
				t.Fatalf("exit code 0, want non-zero; stderr %q", s.stderr.String())
			}
			stderr := s.stderr.String()
			wantOneLine(t, stderr)
			if !strings.Contains(stderr, "pprof address") {
				t.Errorf("stderr %q does not name the pprof address", stderr)
			}
		})
	}
}
