package replica

import (
	"context"
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// AccessStore is what the access recorder writes to and reads from.
type AccessStore interface {
	RecordAccess(ctx context.Context, accesses []gatehouse.ClientAccess) error
	AddTokenUsage(ctx context.Context, counts []gatehouse.TokenUsage) error
	TokenUsage(ctx context.Context, clientID string, since time.Time) ([]gatehouse.TokenUsage, error)
}

// AccessConfig configures an AccessRecorder.
type AccessConfig struct {
	Store AccessStore
	Log   *slog.Logger
	Now   func() time.Time
	// Every is how often pending accesses and token counts are written;
	// each client's access is written at most once per MinInterval.
	Every, MinInterval time.Duration
	// Written is told which clients' accesses reached the store, so cached
	// copies of those clients, which lack them, can be dropped.
	Written func(ids []string)
	// Flushed, if set, is called after every write round, on the ticks and
	// the last one at Stop, with its outcome, so tests can wait for the
	// background writes rather than sleep.
	Flushed func(error)
}
