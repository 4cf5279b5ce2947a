package replica

import (
	"log/slog"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
)

func TestClientCacheKeepsOnlyWhatNoChangeOvertook(t *testing.T) {
	a := gatehouse.Client{ID: "a"}
	tests := []struct {
		name    string
		trusted bool
		between func(c *ClientCache[int]) // between the miss and the add
		want    bool
	}{
		{"trusted, nothing changed", true, func(*ClientCache[int]) {}, true},
		{"untrusted", false, func(*ClientCache[int]) {}, false},
		{"invalidated meanwhile", true, func(c *ClientCache[int]) { c.Invalidate("other") }, false},
		{"purged meanwhile", true, func(c *ClientCache[int]) { c.Purge() }, false},
		{"trust lost meanwhile", true, func(c *ClientCache[int]) { c.SetTrusted(false) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClientCache[int](10, tc.trusted)
			seq := c.Miss()
			tc.between(c)
			c.AddClient(a, seq)
			if _, got := c.Client("a"); got != tc.want {
				t.Errorf("cached = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClientCacheTenantsPurgeTogether(t *testing.T) {
	c := NewClientCache[int](10, true)
	c.AddTenants([]string{"t1", "t2"}, []int{1, 2}, c.TenantSeq())
	if st, ok := c.Tenant("t2"); !ok || st != 2 {
		t.Fatalf("t2 = %d, %v", st, ok)
	}
	seq := c.TenantSeq()
	c.PurgeTenants()
	c.AddTenants([]string{"t3"}, []int{3}, seq) // read before the purge
	for _, id := range []string{"t1", "t2", "t3"} {
		if _, ok := c.Tenant(id); ok {
			t.Errorf("%s still cached after a purge", id)
		}
	}
	c.AddClient(gatehouse.Client{ID: "a"}, c.Miss())
	c.PurgeTenants()
	if _, ok := c.Client("a"); !ok {
		t.Error("purging tenants dropped a client")
	}
}

func TestListenerFollowsTheFeed(t *testing.T) {
	c := NewClientCache[int](10, false)
	var applied []gatehouse.ChangeKind
	l := &Listener{Cache: c, Log: discard(), Applied: func(ch gatehouse.Change) { applied = append(applied, ch.Kind) }}
	l.Handle(gatehouse.Change{Kind: gatehouse.ChangeResync})
	if !l.Connected() {
		t.Error("not connected after a resync")
	}
	c.AddClient(gatehouse.Client{ID: "a"}, c.Miss())
	l.Handle(gatehouse.Change{Kind: gatehouse.ChangeClient, ID: "a"})
	if _, ok := c.Client("a"); ok {
		t.Error("a changed client stays cached")
	}
	c.AddClient(gatehouse.Client{ID: "a"}, c.Miss())
	l.Handle(gatehouse.Change{Kind: gatehouse.ChangeLost})
	if _, ok := c.Client("a"); ok || l.Connected() {
		t.Error("the cache is trusted after the feed was lost")
	}
	if len(applied) != 3 {
		t.Errorf("Applied called %d times for 3 changes", len(applied))
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
