package replica

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// refusingStore refuses every write.
type refusingStore struct{}

func (refusingStore) RecordAccess(context.Context, []gatehouse.ClientAccess) error {
	return errors.New("connection refused")
}

func (refusingStore) AddTokenUsage(context.Context, []gatehouse.TokenUsage) error {
	return errors.New("connection refused")
}

func (refusingStore) TokenUsage(context.Context, string, time.Time) ([]gatehouse.TokenUsage, error) {
	return nil, nil
}

// What Stop cannot write is counted in its error, which every later Stop
// returns, and the Flushed hook hears of it.
func TestStopReportsWhatItCouldNotWrite(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	var heard []error
	r := NewAccessRecorder(AccessConfig{
		Store: refusingStore{}, Log: discard(), Now: func() time.Time { return now },
		Every: time.Hour, MinInterval: time.Minute,
		Flushed: func(err error) { heard = append(heard, err) },
	})
	r.Start()
	r.Note("a", "192.0.2.1", now)
	r.Note("b", "192.0.2.1", now)
	r.CountIssue("a", now)
	r.CountIssue("a", now.Add(-time.Hour))
	err := r.Stop(context.Background())
	var unwritten *UnwrittenError
	if !errors.As(err, &unwritten) || unwritten.Accesses != 2 || unwritten.TokenCounts != 2 {
		t.Fatalf("Stop = %v, want 2 accesses and 2 token counts unwritten", err)
	}
	if again := r.Stop(context.Background()); again != err {
		t.Errorf("second Stop = %v, want the first's %v", again, err)
	}
	if len(heard) != 1 || heard[0] != err {
		t.Errorf("Flushed heard %v, want the one last round", heard)
	}
}
