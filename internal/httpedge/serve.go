package httpedge

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// ServeUntil serves hs on ln until ctx ends, then shuts hs down: requests
// in flight get up to grace to finish, and connections still open after
// that are closed, so that shutting down never hangs on a slow client.
func ServeUntil(ctx context.Context, hs *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		hs.Close()
	}
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}
