package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Callers that arrive while a run is in progress share it and its result.
func TestDoShares(t *testing.T) {
	var g Group[int]
	var runs atomic.Int64
	release := make(chan struct{})
	started := make(chan struct{})
	fn := func() (int, error) {
		if runs.Add(1) == 1 {
			close(started)
		}
		<-release
		return 42, nil
	}
	const callers = 20
	var wg sync.WaitGroup
	results := make(chan int, callers)
	wg.Go(func() {
		v, _ := g.Do(context.Background(), "k", fn)
		results <- v
	})
	<-started
	for range callers - 1 {
		wg.Go(func() {
			v, _ := g.Do(context.Background(), "k", fn)
			results <- v
		})
	}
	time.Sleep(50 * time.Millisecond) // let the others join the held run
	close(release)
	wg.Wait()
	close(results)
	for v := range results {
		if v != 42 {
			t.Errorf("result %d, want 42", v)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
}

// A caller whose context ends stops waiting; the run goes on and a caller
// still waiting gets its result.
func TestDoOutlivesCaller(t *testing.T) {
	var g Group[string]
	release := make(chan struct{})
	started := make(chan struct{})
	fn := func() (string, error) {
		close(started)
		<-release
		return "done", nil
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := g.Do(ctx, "k", fn)
		first <- err
	}()
	<-started
	stop := errors.New("caller left")
	cancel(stop)
	if err := <-first; !errors.Is(err, stop) {
		t.Fatalf("first caller: %v, want its context's cause", err)
	}
	second := make(chan string, 1)
	go func() {
		v, _ := g.Do(context.Background(), "k", func() (string, error) { return "second run", nil })
		second <- v
	}()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if v := <-second; v != "done" {
		t.Errorf("second caller got %q, want the first run's result", v)
	}
}

// Errors reach every caller, and different keys run apart.
func TestDoErrorsAndKeys(t *testing.T) {
	var g Group[int]
	boom := errors.New("boom")
	if _, err := g.Do(context.Background(), "a", func() (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Errorf("err = %v, want boom", err)
	}
	if v, err := g.Do(context.Background(), "b", func() (int, error) { return 7, nil }); v != 7 || err != nil {
		t.Errorf("Do(b) = %d, %v", v, err)
	}
}
