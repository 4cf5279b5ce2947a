package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The real server's input limits: headers over the bound get 431, bodies
// over 1 MiB get 413, and a client that never finishes its headers is cut
// off (no slowloris).
func TestInputLimits(t *testing.T) {
	s := startServer(t, serverOpts{})

	req, _ := http.NewRequest(http.MethodGet, s.URL+"/healthz", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 200<<10))
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("200 KiB of headers: %d, want 431", res.StatusCode)
	}

	boot := s.bootstrapCreds(t)
	tok := s.token(t, boot.ClientID, boot.ClientSecret).AccessToken
	// Just over the 1 MiB limit: the server refuses it and still drains
	// the rest (net/http discards up to 256 KiB), so the answer is read
	// reliably; a body far over the limit is cut off with a reset that can
	// race the 413 to the client.
	big := map[string]any{"type": "api_client", "data": map[string]string{"pad": strings.Repeat("a", 1<<20+64<<10)}}
	if r := s.do(t, http.MethodPost, "/api/2/clients", bearer(tok), big); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over 1 MiB: %d, want 413", r.Status)
	}

	// A connection that sends half a request line and stops is closed by
	// the server once the read-header timeout passes.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	took := time.Since(start)
	t.Logf("slow client cut off after %s (%q, %v)", took.Round(time.Millisecond), line, err)
	if took > 20*time.Second {
		t.Errorf("a client that never finished its headers was kept for %s", took)
	}
}
