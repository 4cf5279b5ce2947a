package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestHealthAndNotFound checks the probe endpoints a load balancer or
// Kubernetes polls, and that an unknown path gets the JSON error shape of
// every other error rather than Go's plain-text 404.
func TestHealthAndNotFound(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	tests := []struct {
		method, path string
		status       int
		code         string // error.code of the JSON body; "" for a success
	}{
		{http.MethodGet, "/healthz", http.StatusOK, ""},
		{http.MethodGet, "/readyz", http.StatusOK, ""},
		{http.MethodHead, "/healthz", http.StatusOK, ""},
		{http.MethodGet, "/no/such/path", http.StatusNotFound, "notFound"},
		{http.MethodGet, "/bc/idp/nothing", http.StatusNotFound, "notFound"},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "methodNotAllowed"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := s.do(t, tt.method, tt.path, "", nil)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.Status, tt.status, r.Body)
			}
			if tt.method == http.MethodHead {
				return
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if tt.code == "" {
				var ok struct {
					Status string `json:"status"`
				}
				r.JSON(t, &ok)
				if ok.Status != "ok" {
					t.Errorf("body %s, want status ok", r.Body)
				}
				return
			}
			var e apiError
			r.JSON(t, &e)
			if e.Error.Code != tt.code || e.Error.Message == "" {
				t.Errorf("error body %s, want code %q and a message", r.Body, tt.code)
			}
		})
	}
}
