package httpedge

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// logged serves one request through Handler and returns the request log
// line and the status the observer saw.
func logged(t *testing.T, h http.HandlerFunc) (line map[string]any, observed, status int, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	edge := Handler(h, Options{Logger: log, Observe: func(_ *http.Request, status int, _ time.Duration) { observed = status }})
	// A real server, not a recorder: the status is what net/http put on
	// the wire, 1xx answers and implicit 200s included.
	srv := httptest.NewServer(edge)
	res, err := srv.Client().Get(srv.URL + "/x?secret=1")
	if err != nil {
		t.Fatal(err)
	}
	body, err = io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	srv.Close() // waits for the handler, so the log line is written
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "request" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no request line in %q", buf.String())
	}
	return line, observed, res.StatusCode, body
}

func TestRequestLogRecordsStatusSent(t *testing.T) {
	tests := []struct {
		name string
		h    http.HandlerFunc
		want int
	}{
		{"nothing written: net/http sends 200", func(http.ResponseWriter, *http.Request) {}, 200},
		{"body only: implicit 200", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("hi")) }, 200},
		{"explicit status", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }, 204},
		{"first status wins", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusConflict)
			w.WriteHeader(http.StatusOK)
		}, 409},
		{"interim 1xx is not the status", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusAccepted)
		}, 202},
		{"panic: 500", func(http.ResponseWriter, *http.Request) { panic("boom") }, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line, observed, status, _ := logged(t, tc.h)
			if got := line["status"]; got != float64(tc.want) {
				t.Errorf("logged status %v, want %d", got, tc.want)
			}
			if observed != tc.want {
				t.Errorf("observed status %d, want %d", observed, tc.want)
			}
			if status != tc.want {
				t.Errorf("sent status %d, want %d", status, tc.want)
			}
			if line["path"] != "/x" {
				t.Errorf("logged path %v, want /x without the query", line["path"])
			}
		})
	}
}

func TestPanicAnswersGenericError(t *testing.T) {
	_, _, _, raw := logged(t, func(http.ResponseWriter, *http.Request) { panic("secret detail") })
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Code != "internalError" || strings.Contains(body.Error.Message, "secret") {
		t.Errorf("panic answered %+v", body.Error)
	}
}

func TestRequestLogNamesResolvedClient(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	h := Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), TrustedProxies: trusted})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.1.1.1:4000"
	r.Header.Set("X-Forwarded-For", "198.51.100.7")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if !strings.Contains(buf.String(), `"remote":"198.51.100.7"`) {
		t.Errorf("log %q does not name the client behind the proxy", buf.String())
	}
}
