package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/metrics"
)

const dashboardFile = "../deploy/grafana-dashboard.json"

type dashboard struct {
	SchemaVersion int `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int `json:"id"`
	Type       string
	Title      string
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row holds its panels
}

// PromQL that is not a metric name: strings, label matchers, range and
// subquery selectors, and the label lists of by/without/on/ignoring.
var (
	promString    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promRange     = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promFuncAfter = regexp.MustCompile(`^\s*\(`)
	promKeywords  = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "bool": true, "offset": true, "and": true, "or": true, "unless": true, "inf": true, "nan": true}
)

// metricNames returns the metric names a PromQL expression selects.
func metricNames(expr string) []string {
	e := promString.ReplaceAllString(expr, `""`)
	e = promMatchers.ReplaceAllString(e, "")
	e = promRange.ReplaceAllString(e, "")
	e = promGrouping.ReplaceAllString(e, "")
	var names []string
	for _, loc := range promIdent.FindAllStringIndex(e, -1) {
		word := e[loc[0]:loc[1]]
		if promFuncAfter.MatchString(e[loc[1]:]) || promKeywords[strings.ToLower(word)] {
			continue // a function call or an operator
		}
		if loc[0] > 0 && strings.ContainsAny(e[loc[0]-1:loc[0]], "0123456789.") {
			continue // the exponent of a number such as 1e3
		}
		names = append(names, word)
	}
	return names
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`histogram_quantile(0.99, sum by (le, route) (rate(gatehouse_http_request_duration_seconds_bucket{job=~"$job", route!="/x{y}"}[$__rate_interval]))) / on (instance) go_goroutines`)
	want := []string{"gatehouse_http_request_duration_seconds_bucket", "go_goroutines"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("metricNames = %v, want %v", got, want)
	}
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	return d
}

func flatten(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatten(p.Panels)...)
	}
	return out
}

// TestDashboardPlotsExposedMetrics checks that every query of the Grafana
// dashboard names only series a real scrape has, and that every Gatehouse
// metric is plotted: a renamed metric breaks this test, not a panel that
// silently shows "No data".
func TestDashboardPlotsExposedMetrics(t *testing.T) {
	d := loadDashboard(t)
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: too old for current Grafana", d.SchemaVersion)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			hasDS = true
		}
	}
	if !hasDS {
		t.Error("no Prometheus datasource variable named datasource")
	}

	dc := newDC(t)
	exercise(t, dc)
	samples, _ := dc.scrape()
	exposed := seriesNames(samples)

	plotted := map[string]bool{}
	ids := map[int]string{}
	for _, p := range flatten(d.Panels) {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names := metricNames(tg.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q: no metric in %q", p.Title, tg.Expr)
			}
			for _, n := range names {
				plotted[n] = true
				if !exposed[n] {
					t.Errorf("panel %q queries %s, which /metrics does not expose", p.Title, n)
				}
			}
		}
	}
	for _, n := range []string{
		metrics.TokensIssued, metrics.TokenRequestFailures, metrics.BearerChecks,
		metrics.HTTPRequestDuration + "_bucket", metrics.StoreOperationLatency + "_bucket",
		metrics.ClientCacheHits, metrics.ClientCacheMisses, metrics.ClientCacheEntries,
		metrics.SigningKeyAge, "go_goroutines", "go_memstats_heap_alloc_bytes",
	} {
		if !plotted[n] {
			t.Errorf("the dashboard plots no %s", n)
		}
	}
}
