package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is a run's result as `--json` prints it: one flat object for
// scripts. Latencies are milliseconds, rounded to the microsecond.
type Summary struct {
	Name           string           `json:"name"`
	Concurrency    int              `json:"concurrency"`
	Requests       int64            `json:"requests"`
	Errors         int64            `json:"errors"`
	ErrorsByStatus map[string]int64 `json:"errors_by_status"`
	DurationS      float64          `json:"duration_s"`
	RPS            float64          `json:"rps"`
	MeanMS         float64          `json:"mean_ms"`
	P50MS          float64          `json:"p50_ms"`
	P90MS          float64          `json:"p90_ms"`
	P99MS          float64          `json:"p99_ms"`
	MaxMS          float64          `json:"max_ms"`
	Interrupted    bool             `json:"interrupted,omitempty"`
}

// Summarize condenses r under the name of the benchmark.
func Summarize(name string, r *Result) Summary {
	return Summary{
		Name:           name,
		Concurrency:    r.Concurrency,
		Requests:       r.Requests,
		Errors:         r.Errors,
		ErrorsByStatus: r.ErrorsByStatus,
		DurationS:      round(r.Elapsed.Seconds(), 3),
		RPS:            round(r.RPS(), 1),
		MeanMS:         ms(r.Latency.Mean()),
		P50MS:          ms(r.Latency.Quantile(0.50)),
		P90MS:          ms(r.Latency.Quantile(0.90)),
		P99MS:          ms(r.Latency.Quantile(0.99)),
		MaxMS:          ms(r.Latency.Max()),
		Interrupted:    r.Interrupted,
	}
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// WriteText prints r for a person. unit names what a request is
// ("requests", "signatures").
func WriteText(w io.Writer, name, unit string, r *Result) error {
	var b strings.Builder
	status := "complete"
	if r.Interrupted {
		status = "interrupted"
	}
	fmt.Fprintf(&b, "%s: %s, %d goroutines, %s\n\n", name, status, r.Concurrency, r.Elapsed.Round(time.Millisecond))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s:\t%s\n", cap1(unit), groupThousands(float64(r.Requests)))
	fmt.Fprintf(tw, "Errors:\t%s\n", groupThousands(float64(r.Errors)))
	for _, k := range r.ErrorKinds() {
		label := k
		if k != "network" {
			label = "HTTP " + k
		}
		fmt.Fprintf(tw, "  %s:\t%s\t(first: %s)\n", label, groupThousands(float64(r.ErrorsByStatus[k])), oneLine(r.FirstErrors[k], 120))
	}
	fmt.Fprintf(tw, "Throughput:\t%s %s/s\n", groupThousands(r.RPS()), unit)
	for _, q := range []struct {
		name string
		d    time.Duration
	}{
		{"mean", r.Latency.Mean()},
		{"p50", r.Latency.Quantile(0.50)},
		{"p90", r.Latency.Quantile(0.90)},
		{"p99", r.Latency.Quantile(0.99)},
		{"max", r.Latency.Max()},
	} {
		fmt.Fprintf(tw, "Latency %s:\t%s\n", q.name, fmtLatency(q.d))
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}

// fmtLatency shows milliseconds to the microsecond: one unit, which a
// reader can compare down the column.
func fmtLatency(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

func cap1(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// oneLine flattens and bounds an error message for the summary.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
