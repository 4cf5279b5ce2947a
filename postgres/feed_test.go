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
	"github.com/gatehouse-dev/gatehouse/storetest"
)

// watch runs s.WatchChanges until t ends and returns what it reports.
func watch(t *testing.T, s *Store) <-chan gatehouse.Change {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan gatehouse.Change, 1000)
	done := make(chan error, 1)
	go func() { done <- s.WatchChanges(ctx, func(c gatehouse.Change) { ch <- c }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("WatchChanges after its context ended: %v, want nil", err)
		}
	})
	return ch
}

// expect fails t unless the next change reported is want, within d.
func expect(t *testing.T, ch <-chan gatehouse.Change, want gatehouse.Change, d time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("change = %+v, want %+v", got, want)
		}
	case <-time.After(d):
		t.Fatalf("no change within %v, want %+v", d, want)
	}
	return time.Since(began)
}

func expectNone(t *testing.T, ch <-chan gatehouse.Change, d time.Duration) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("unexpected change %+v", got)
	case <-time.After(d):
	}
}

func TestChangeFeed(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	a, b := openTest(t, dsn), openTest(t, dsn) // two replicas
	other := openTest(t, pgtest.NewSchema(t))  // a store elsewhere in the database
	ctx := t.Context()

	changes := watch(t, a)
	expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeResync}, 10*time.Second)
	otherChanges := watch(t, other)
	expect(t, otherChanges, gatehouse.Change{Kind: gatehouse.ChangeResync}, 10*time.Second)

	client := func(id string) gatehouse.Change { return gatehouse.Change{Kind: gatehouse.ChangeClient, ID: id} }

	if _, err := b.Bootstrap(ctx, testRoot, testAdmin); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, client(testAdmin.ID), 5*time.Second)

	c := testAdmin
	c.ID, c.Role = "c-1 ü", gatehouse.RoleNone
	began := time.Now()
	if err := b.CreateClient(ctx, c, gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, client(c.ID), 5*time.Second)
	t.Logf("a client created on one store was announced to another %v after CreateClient began",
		time.Since(began).Round(time.Microsecond))

	// Recording accesses changes nothing a replica caches: no notice. The
	// revocation after it is the next thing heard.
	if err := b.RecordAccess(ctx, []gatehouse.ClientAccess{{ClientID: c.ID, At: time.Now(), FromIP: "192.0.2.1"}}); err != nil {
		t.Fatal(err)
	}
	r := gatehouse.Revocation{TokenID: "jti-1", ClientID: c.ID, ExpiresAt: time.Now().Add(time.Hour), RevokedAt: time.Now()}
	if err := b.RevokeToken(ctx, r, gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeRevocation, ID: r.TokenID}, 5*time.Second)

	// A repeated revocation inserts nothing and says nothing; neither does
	// an update that fn aborts.
	if err := b.RevokeToken(ctx, r, gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	errAbort := errors.New("abort")
	if _, err := b.UpdateClient(ctx, c.ID, func(cur gatehouse.Client) (gatehouse.Client, error) {
		cur.Generation++
		return cur, errAbort
	}, gatehouse.NoAudit); !errors.Is(err, errAbort) {
		t.Fatalf("aborted UpdateClient: %v", err)
	}
	if err := b.UpdateSigningKeys(ctx, storetest.AddKeys(testKey), gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, gatehouse.Change{Kind: gatehouse.ChangeKeys, ID: testKey.ID}, 5*time.Second)

	if _, err := b.UpdateClient(ctx, c.ID, func(cur gatehouse.Client) (gatehouse.Client, error) {
		cur.Status = gatehouse.StatusDisabled
		cur.Generation++
		return cur, nil
	}, gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, client(c.ID), 5*time.Second)
	if err := b.DeleteClient(ctx, c.ID, gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, client(c.ID), 5*time.Second)
	// A write in this store's own process is announced as well.
	if err := a.CreateClient(ctx, testAdmin, gatehouse.NoAudit); !errors.Is(err, gatehouse.ErrConflict) {
		t.Fatalf("CreateClient(existing): %v", err)
	}
	c.ID = "c-2"
	if err := a.CreateClient(ctx, c, gatehouse.NoAudit); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, client(c.ID), 5*time.Second)

	expectNone(t, changes, 300*time.Millisecond)
	expectNone(t, otherChanges, 0)
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
	s := openTest(t, u.String())
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
	_, err = s.GetClient(gctx, "anyone")
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
