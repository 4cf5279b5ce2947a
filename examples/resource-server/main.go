// Command resource-server is the smallest API protected by Gatehouse: it
// accepts the access tokens of one data center, checked by package guard,
// and answers GET /hello with the calling API client's id.
//
// It is configured by the environment:
//
//	GATEHOUSE_ISSUER         the data center's issuer, such as https://eu8-cloud.acronis.com/bc
//	GATEHOUSE_AUDIENCE       the aud tokens must carry; default: the issuer's host
//	GATEHOUSE_CLIENT_ID      an API client of that data center, used for introspection
//	GATEHOUSE_CLIENT_SECRET  its secret
//	LISTEN                   the address to listen on; default :8080
//
// Try it with a token from the gatehouse CLI or any OAuth 2 client:
//
//	curl -H "Authorization: Bearer $TOKEN" http://localhost:8080/hello
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/guard"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "resource-server:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	issuer := guard.Issuer{
		URL:          getenv("GATEHOUSE_ISSUER"),
		Audience:     getenv("GATEHOUSE_AUDIENCE"),
		ClientID:     getenv("GATEHOUSE_CLIENT_ID"),
		ClientSecret: getenv("GATEHOUSE_CLIENT_SECRET"),
	}
	if issuer.URL == "" {
		return errors.New("GATEHOUSE_ISSUER is not set")
	}
	if issuer.Audience == "" {
		// Gatehouse's access tokens carry the data center's host.
		u, err := url.Parse(issuer.URL)
		if err != nil {
			return fmt.Errorf("GATEHOUSE_ISSUER: %w", err)
		}
		issuer.Audience = u.Host
	}
	listen := getenv("LISTEN")
	if listen == "" {
		listen = ":8080"
	}

	g, err := guard.New(guard.Config{
		Issuers: []guard.Issuer{issuer},
		Leeway:  30 * time.Second,
		Logger:  log,
	})
	if err != nil {
		return err
	}
	defer g.Close()

	mux := http.NewServeMux()
	mux.Handle("GET /hello", g.Middleware(http.HandlerFunc(hello)))

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving", "addr", ln.Addr().String(), "issuer", issuer.URL, "audience", issuer.Audience)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

func hello(w http.ResponseWriter, r *http.Request) {
	claims, _ := guard.ClaimsFrom(r.Context()) // always there behind the guard
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{
		"message":       "hello",
		"client_id":     claims.ClientID,
		"token_expires": claims.Expiry.UTC().Format(time.RFC3339),
	})
}
