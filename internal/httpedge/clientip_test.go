package httpedge

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestClientIPResolver(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, peer, xff, want string
		trusted               bool
	}{
		{"no proxies configured: headers ignored", "203.0.113.9:5000", "1.2.3.4", "203.0.113.9", false},
		{"untrusted peer: headers ignored", "203.0.113.9:5000", "1.2.3.4", "203.0.113.9", true},
		{"trusted peer: client from the header", "10.1.2.3:5000", "198.51.100.7", "198.51.100.7", true},
		{"forged left part ignored", "10.1.2.3:5000", "6.6.6.6, 198.51.100.7", "198.51.100.7", true},
		{"chain of trusted proxies", "10.1.2.3:5000", "198.51.100.7, 192.168.1.1, 10.9.9.9", "198.51.100.7", true},
		{"all hops trusted: leftmost", "10.1.2.3:5000", "10.0.0.5", "10.0.0.5", true},
		{"garbage hop: stop at the last trusted", "10.1.2.3:5000", "x<script>", "10.1.2.3", true},
		{"no header: the proxy itself", "10.1.2.3:5000", "", "10.1.2.3", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			list := trusted
			if !tc.trusted {
				list = nil
			}
			h := ClientIPResolver(list)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = ClientIP(r) }))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.peer
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tc.want {
				t.Errorf("client IP = %q, want %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"10.0.0.0/8, nonsense", "0.0.0.0/0", "10.0.0.1, ::/0"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
