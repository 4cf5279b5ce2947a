package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// ListenProfiles opens the listener for the profiling endpoints. It takes
// only a loopback address: profiles show a process's memory and code
// paths, and a CPU profile costs a core for its whole duration, so they
// are for an operator on the machine (or an SSH tunnel), never for the
// network. An address without a host (":6060") is refused rather than
// read as "every interface".
func ListenProfiles(addr string) (net.Listener, error) {
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

// ProfileHandler serves net/http/pprof under /debug/pprof/. It is its own
// mux: importing net/http/pprof also registers on http.DefaultServeMux,
// which nothing in Gatehouse serves, so the public listener never has
// these routes.
func ProfileHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// ServeProfiles serves ProfileHandler on ln until ctx ends. There is no
// write timeout: a CPU profile or trace answers only after the seconds it
// was asked to record.
func ServeProfiles(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	hs := &http.Server{
		Handler:           ProfileHandler(),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// A profile in progress is cut short: it is diagnostics, not a
	// request anyone's work depends on.
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
