package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/postgres/pgtest"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/storetest"
)

// watch runs s.WatchChanges until t ends and returns what it reports.
func watch(t *testing.T, s *Store) <-chan gatehouse.Change { return storetest.WatchFeed(t, s) }

var (
	expect     = storetest.ExpectChange
	expectNone = storetest.ExpectNoChange
)

// openTestBackend opens a backend on dsn, closed when t ends.
func openTestBackend(t *testing.T, dsn string) gatehouse.Backend {
	t.Helper()
	b, err := OpenBackend(t.Context(), dsn, ratelimit.Config{}, OpenOptions{})
	if err != nil {
		t.Fatalf("OpenBackend: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Backend.Close: %v", err)
		}
	})
	return b
}

// Two backends on one schema are two replicas of a data center.
func TestChangeFeed(t *testing.T) {
	pgtest.DSN(t)
	storetest.RunChangeFeed(t, func(t *testing.T) (watched, other gatehouse.Backend) {
		dsn := pgtest.NewSchema(t)
		return openTestBackend(t, dsn), openTestBackend(t, dsn)
	})
}

// The feed is the schema's: a store elsewhere in the database hears
// nothing of this one's changes.
func TestChangeFeedIsPerSchema(t *testing.T) {
	s := openTest(t, pgtest.NewSchema(t))
	other := openTest(t, pgtest.NewSchema(t))
	changes, otherChanges := watch(t, s), watch(t, other)
	expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeResync}, 10*time.Second)
	expect(t, otherChanges, gatehouse.Change{Kind: gatehouse.ChangeResync}, 10*time.Second)
	if _, err := s.Bootstrap(t.Context(), testRoot, testAdmin); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateSigningKeys(t.Context(), storetest.AddKeys(testKey), gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeClient, ID: testAdmin.ID}, 5*time.Second)
	expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeKeys, ID: testKey.ID}, 5*time.Second)
	expectNone(t, otherChanges, 300*time.Millisecond)
}

func TestWatchChangesEndsWithTheStore(t *testing.T) {
	s, err := Open(t.Context(), pgtest.NewSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	resynced := make(chan struct{}, 1)
	go func() {
		done <- s.WatchChanges(t.Context(), func(c gatehouse.Change) {
			if c.Kind == gatehouse.ChangeResync {
				resynced <- struct{}{}
			}
		})
	}()
	select {
	case <-resynced:
	case <-time.After(10 * time.Second):
		t.Fatal("WatchChanges never began listening")
	}
	s.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("WatchChanges on a closed store returned nil, want an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WatchChanges still running 10s after Close")
	}
}

func TestParseChange(t *testing.T) {
	for payload, want := range map[string]gatehouse.Change{
		"c:a:b":    {Kind: gatehouse.ChangeClient, ID: "a:b"},
		"r:jti":    {Kind: gatehouse.ChangeRevocation, ID: "jti"},
		"k:kid-1":  {Kind: gatehouse.ChangeKeys, ID: "kid-1"},
		"t:tenant": {Kind: gatehouse.ChangeTenant, ID: "tenant"},
		"x:future": {Kind: gatehouse.ChangeResync},
		"garbage":  {Kind: gatehouse.ChangeResync},
	} {
		if got := parseChange(payload); got != want {
			t.Errorf("parseChange(%q) = %+v, want %+v", payload, got, want)
		}
	}
}

// freezer is a TCP proxy that can stop forwarding without closing anything:
// a network partition, which no socket error reveals.
type freezer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	frozen bool
	thaw   chan struct{} // closed when frozen ends
}

// frozenSchema is a fresh schema reached through a freezer, so the test
// can cut the database off without a word; it skips the test unless the
// database has a TCP address.
func frozenSchema(t *testing.T) (*freezer, string) {
	t.Helper()
	dsn := pgtest.NewSchema(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" || strings.HasPrefix(cfg.Host, "/") {
		t.Skip("needs a postgres:// URL with a TCP address in " + pgtest.EnvVar)
	}
	f := newFreezer(t, net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)))
	u.Host = f.ln.Addr().String()
	return f, u.String()
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target, thaw: make(chan struct{})}
	close(f.thaw)
	var conns []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		f.set(false)
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			go f.pipe(c, u)
			go f.pipe(u, c)
		}
	}()
	return f
}

func (f *freezer) set(frozen bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if frozen == f.frozen {
		return
	}
	f.frozen = frozen
	if frozen {
		f.thaw = make(chan struct{})
	} else {
		close(f.thaw)
	}
}

func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			f.mu.Lock()
			thaw := f.thaw
			f.mu.Unlock()
			<-thaw // held, not dropped: the stream stays intact
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func TestChangeFeedNoticesASilentPartition(t *testing.T) {
	f, dsn := frozenSchema(t)
	s := openTest(t, dsn)
	ctx := t.Context()
	changes := watch(t, s)
	expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeResync}, 10*time.Second)

	f.set(true)
	lost := expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeLost}, 6*time.Second)
	t.Logf("a silent partition was reported after %v", lost.Round(time.Millisecond))
	if limit := feedIdle + feedPingTimeout + 500*time.Millisecond; lost > limit {
		t.Errorf("the loss took %v to notice, want at most %v", lost, limit)
	}
	gctx, cancel := context.WithTimeout(ctx, time.Second)
	began := time.Now()
	_, err := s.GetClient(gctx, "anyone")
	took := time.Since(began)
	cancel()
	if !errors.Is(err, gatehouse.ErrUnavailable) {
		t.Errorf("GetClient during the partition: %v, want ErrUnavailable", err)
	}
	// The deadline, plus at most cancelDeadlineDelay for the cancel request
	// that cannot get through.
	if limit := time.Second + cancelDeadlineDelay + 500*time.Millisecond; took > limit {
		t.Errorf("GetClient with a 1s deadline took %v to fail, want at most %v", took, limit)
	}
	t.Logf("GetClient with a 1s deadline failed after %v", took.Round(time.Millisecond))

	f.set(false)
	expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeResync}, 15*time.Second)
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after the partition healed: %v", err)
	}
}
