// Package profiling serves Go's runtime profiles (net/http/pprof) for
// gatehouse serve --pprof-listen. It is internal and imported by the CLI
// alone: net/http/pprof registers its handlers on http.DefaultServeMux as
// a side effect, which no program embedding Gatehouse's packages should
// inherit.
package profiling

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/httpedge"
)

// MaxSeconds bounds a CPU profile or trace: each holds a connection, and
// costs CPU, for as long as it records.
const MaxSeconds = 120

// ListenProfiles opens the listener for the profiling endpoints. It takes
// only a loopback address: profiles show a process's memory and code
// paths, and a CPU profile costs a core for its whole duration, so they
// are for an operator on the machine (or an SSH tunnel), never for the
// network. An address without a host (":6060") is refused rather than
// read as "every interface".
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("pprof address %q: %w", addr, err)
	}
	if host != "localhost" {
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("pprof address %q: want a loopback address such as 127.0.0.1:6060 or [::1]:6060", addr)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listen on %s: %w", addr, err)
	}
	// "localhost" is whatever the resolver says; check what was bound.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("pprof address %q resolved to %s, which is not a loopback address", addr, ln.Addr())
	}
	return ln, nil
}

// Handler serves net/http/pprof under /debug/pprof/, on a mux of its own
// so the public listener never has these routes. /debug/pprof/cmdline is
// left out: the command line can hold a database URL with its password,
// and no profiling tool needs it. A CPU profile or trace may record at
// most MaxSeconds.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/cmdline", http.NotFound)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.Handle("/debug/pprof/profile", boundSeconds(http.HandlerFunc(pprof.Profile)))
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.Handle("/debug/pprof/trace", boundSeconds(http.HandlerFunc(pprof.Trace)))
	return mux
}

func boundSeconds(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.FormValue("seconds"); v != "" {
			if n, err := strconv.ParseFloat(v, 64); err != nil || n <= 0 || n > MaxSeconds {
				http.Error(w, fmt.Sprintf("seconds must be a number above 0 and at most %d", MaxSeconds), http.StatusBadRequest)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// Serve serves Handler on ln until ctx ends. There is no write timeout:
// a CPU profile or trace answers only after the seconds it records.
func Serve(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	hs := &http.Server{
		Handler:           Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// A profile in progress at shutdown is cut short after a second: it is
	// diagnostics, not a request anyone's work depends on.
	return httpedge.ServeUntil(ctx, hs, ln, time.Second)
}
