package console

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/service"
)

func TestNiceCeil(t *testing.T) {
	for in, want := range map[int64]int64{0: 1, 1: 1, 2: 2, 3: 5, 5: 5, 6: 10, 11: 20, 43: 50, 51: 100, 101: 200, 999: 1000, 1001: 2000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestBuildChart(t *testing.T) {
	start := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	hours := make([]service.HourCount, service.UsageHours)
	for i := range hours {
		hours[i].Hour = start.Add(time.Duration(i) * time.Hour)
	}
	hours[3].Count, hours[10].Count, hours[23].Count = 1, 40, 1000

	ch := buildChart(hours)
	if len(ch.Bars) != 24 || ch.Total != 1041 || ch.Peak != 1000 {
		t.Fatalf("bars %d, total %d, peak %d", len(ch.Bars), ch.Total, ch.Peak)
	}
	if ch.Bars[23].H != num(plotBottom-plotTop) || ch.Bars[23].Y != num(plotTop) {
		t.Errorf("the peak bar does not fill the plot: %+v", ch.Bars[23])
	}
	if ch.Bars[3].H != "1.0" {
		t.Errorf("a single token must still show: %+v", ch.Bars[3])
	}
	if ch.Bars[0].H != "0.0" || ch.Bars[0].Label != "00:00–00:59" {
		t.Errorf("an empty hour: %+v", ch.Bars[0])
	}
	if len(ch.Ticks) != 4 || ch.Ticks[1].Label != "06:00" {
		t.Errorf("ticks %+v", ch.Ticks)
	}
	if got := []string{ch.Grid[0].Label, ch.Grid[1].Label, ch.Grid[2].Label}; strings.Join(got, ",") != "0,500,1000" {
		t.Errorf("grid %v", got)
	}
	if !strings.Contains(ch.Summary, "1041 tokens") {
		t.Errorf("summary %q", ch.Summary)
	}

	for i := range hours {
		hours[i].Count = 0
	}
	if empty := buildChart(hours); !strings.HasPrefix(empty.Summary, "No tokens issued") || len(empty.Grid) != 2 {
		t.Errorf("empty chart: %q, grid %+v", empty.Summary, empty.Grid)
	}
}

func TestQuoting(t *testing.T) {
	for _, s := range []string{"plain", "it's", `back\slash`, "two''quotes", "$(rm -rf /)", "new\nline"} {
		if sh, err := exec.LookPath("sh"); err == nil {
			out, err := exec.Command(sh, "-c", "printf %s "+shellQuote(s)).Output()
			if err != nil || string(out) != s {
				t.Errorf("shellQuote(%q) reads back as %q (%v)", s, out, err)
			}
		}
		if py, err := exec.LookPath("python3"); err == nil {
			out, err := exec.Command(py, "-c", "import sys; sys.stdout.write("+pyQuote(s)+")").Output()
			if err != nil || string(out) != s {
				t.Errorf("pyQuote(%q) reads back as %q (%v)", s, out, err)
			}
		}
	}
}

func TestSnippetsFollowTheAuthMethod(t *testing.T) {
	curl, py := snippets("https://dc.example.com", "id-1", "s3cret", gatehouse.AuthSecretBasic)
	if !strings.Contains(curl, "-u 'id-1:s3cret'") || strings.Contains(curl, "client_secret=") || !strings.Contains(curl, "'https://dc.example.com/bc/idp/token'") {
		t.Errorf("basic curl:\n%s", curl)
	}
	if !strings.Contains(py, "b64encode") || !strings.Contains(py, "**basic_auth") {
		t.Errorf("basic python:\n%s", py)
	}
	curl, py = snippets("https://dc.example.com", "id-1", "s3cret", gatehouse.AuthSecretPost)
	if strings.Contains(curl, "-u ") || !strings.Contains(curl, "-d client_secret='s3cret'") {
		t.Errorf("post curl:\n%s", curl)
	}
	if strings.Contains(py, "b64encode") || !strings.Contains(py, "'client_secret': client_secret") {
		t.Errorf("post python:\n%s", py)
	}
}

func TestSessionStore(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := newSessionStore(clock, 30*time.Minute, 2*time.Hour, 3)

	a, _ := st.create("admin-a", 1)
	if v, ok := st.use(a); !ok || v.clientID != "admin-a" || v.generation != 1 || len(v.csrf) < 43 || v.id != a {
		t.Fatalf("fresh session: %+v, %v", v, ok)
	}
	if _, ok := st.use(a + "x"); ok {
		t.Error("an unknown id was accepted")
	}
	if _, ok := st.use(""); ok {
		t.Error("the empty id was accepted")
	}
	for k := range st.m {
		if strings.Contains(fmt.Sprint(k), a) {
			t.Error("the store keeps the id itself")
		}
	}

	// A notice is taken by the next request only.
	st.setNotice(a, "hello")
	if v, _ := st.use(a); v.notice != "hello" {
		t.Errorf("next request: %+v", v)
	}
	if v, _ := st.use(a); v.notice != "" {
		t.Errorf("the one after: %+v", v)
	}

	// Bounded: the session idle the longest makes room.
	now = now.Add(time.Minute)
	b, _ := st.create("admin-b", 1)
	now = now.Add(time.Minute)
	st.use(a)
	c, _ := st.create("admin-c", 1)
	d, _ := st.create("admin-d", 1)
	if st.len() != 3 {
		t.Fatalf("%d sessions kept, limit 3", st.len())
	}
	if _, ok := st.use(b); ok {
		t.Error("the longest idle session survived eviction")
	}
	for _, id := range []string{a, c, d} {
		if _, ok := st.use(id); !ok {
			t.Error("a recently used session was evicted")
		}
	}

	// Expiry, idle and absolute.
	now = now.Add(31 * time.Minute)
	if _, ok := st.use(a); ok {
		t.Error("an idle session survived")
	}
	e, _ := st.create("admin-e", 1)
	for range 4 {
		now = now.Add(25 * time.Minute)
		if _, ok := st.use(e); !ok {
			t.Fatal("a busy session expired early")
		}
	}
	now = now.Add(25 * time.Minute) // 125 minutes old
	if _, ok := st.use(e); ok {
		t.Error("a session outlived its maximum lifetime")
	}
	st.delete(c)
	if _, ok := st.use(c); ok {
		t.Error("a deleted session still works")
	}
}

// The secrets a session keeps waiting for their pages are bounded in
// number and in time, and leave memory when they expire even if their page
// never comes.
func TestRevealsAreBounded(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	st := newSessionStore(func() time.Time { return now }, 30*time.Minute, 2*time.Hour, 10)
	a, _ := st.create("admin-a", 1)
	pending := func() int {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.m[keyOf(a)].reveals)
	}

	ids := make([]string, maxReveals+1)
	for i := range ids {
		ids[i] = st.offerReveal(a, fmt.Sprint("client-", i), fmt.Sprint("secret-", i), true)
		now = now.Add(time.Second)
	}
	if n := pending(); n != maxReveals {
		t.Fatalf("%d secrets waiting, limit %d", n, maxReveals)
	}
	if _, ok := st.takeReveal(a, ids[0], "client-0"); ok {
		t.Error("the oldest secret survived a full session")
	}
	if rv, ok := st.takeReveal(a, ids[maxReveals], fmt.Sprint("client-", maxReveals)); !ok || rv.secret != fmt.Sprint("secret-", maxReveals) || !rv.created {
		t.Errorf("the newest secret: %+v, %v", rv, ok)
	}
	for _, id := range ids {
		if strings.Contains(fmt.Sprint(st.m[keyOf(a)].reveals), id) {
			t.Error("the store keeps a reveal id itself")
		}
	}

	// Past its time a secret is not shown, and the next sweep, which any
	// request of any session starts once a minute, drops the rest.
	now = now.Add(revealTTL)
	if _, ok := st.takeReveal(a, ids[1], "client-1"); ok {
		t.Error("an expired secret was shown")
	}
	b, _ := st.create("admin-b", 1)
	now = now.Add(time.Minute)
	st.use(b)
	if n := pending(); n != 0 {
		t.Errorf("%d expired secrets still in memory after a sweep", n)
	}
}
