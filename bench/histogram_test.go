package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// exactQuantile is the nearest-rank quantile of the samples: the smallest
// sample that at least ceil(q·n) samples do not exceed.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func TestHistogramQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		gen  func(i int) time.Duration
		n    int
	}{
		{"one sample", func(int) time.Duration { return 1234567 }, 1},
		{"two samples", func(i int) time.Duration { return time.Duration(1+i) * time.Millisecond }, 2},
		{"small exact values", func(i int) time.Duration { return time.Duration(i % 200) }, 1000},
		{"uniform 0-10ms", func(int) time.Duration { return time.Duration(r.Int64N(int64(10 * time.Millisecond))) }, 10000},
		{"log-normal around 1ms", func(int) time.Duration {
			return time.Duration(math.Exp(r.NormFloat64()*1.5) * float64(time.Millisecond))
		}, 20000},
		{"bimodal with a long tail", func(i int) time.Duration {
			if i%100 == 0 {
				return time.Duration(r.Int64N(int64(2*time.Second))) + 500*time.Millisecond
			}
			return time.Duration(r.Int64N(int64(300*time.Microsecond))) + 100*time.Microsecond
		}, 5000},
		{"every power of two", func(i int) time.Duration { return time.Duration(int64(1) << (i % 63)) }, 630},
		{"huge values", func(i int) time.Duration { return time.Duration(math.MaxInt64 - int64(i)) }, 10},
		{"all equal", func(int) time.Duration { return 42 * time.Millisecond }, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			samples := make([]time.Duration, tc.n)
			for i := range samples {
				samples[i] = tc.gen(i)
				h.Record(samples[i])
			}
			slices.Sort(samples)
			if h.Count() != uint64(tc.n) {
				t.Errorf("Count = %d, want %d", h.Count(), tc.n)
			}
			if h.Max() != samples[len(samples)-1] || h.Min() != samples[0] {
				t.Errorf("Min, Max = %v, %v; want %v, %v", h.Min(), h.Max(), samples[0], samples[len(samples)-1])
			}
			for _, q := range []float64{0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1} {
				got, want := h.Quantile(q), exactQuantile(samples, q)
				if relErr(got, want) > 0.01 {
					t.Errorf("Quantile(%v) = %v, want %v (error %.3f%%)", q, got, want, 100*relErr(got, want))
				}
			}
			if h.Quantile(1) != h.Max() {
				t.Errorf("Quantile(1) = %v, want Max %v", h.Quantile(1), h.Max())
			}
		})
	}
}

func relErr(got, want time.Duration) float64 {
	if want == 0 {
		return math.Abs(float64(got))
	}
	return math.Abs(float64(got-want)) / float64(want)
}

// Values below 256ns have a bucket each, so their quantiles are exact.
func TestHistogramSmallValuesExact(t *testing.T) {
	var h Histogram
	for v := range 256 {
		h.Record(time.Duration(v))
	}
	for _, q := range []float64{0.01, 0.5, 0.9, 1} {
		want := time.Duration(math.Ceil(q*256)) - 1
		if got := h.Quantile(q); got != want {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
}

// Every value falls in a bucket that contains it, no wider than 1/128 of
// its lower bound.
func TestBucketBounds(t *testing.T) {
	for _, v := range []int64{0, 1, 255, 256, 257, 511, 512, 1000, 1 << 20, 123456789, math.MaxInt64} {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of [0, %d)", v, i, numBuckets)
		}
		lower, width := bucketRange(i)
		if v < lower || v-lower >= width {
			t.Errorf("value %d in bucket %d = [%d, %d+%d)", v, i, lower, lower, width)
		}
		if width > 1 && float64(width)/float64(lower) > 1.0/128 {
			t.Errorf("bucket %d: width %d over lower %d is more than 1/128", i, width, lower)
		}
	}
}

func TestHistogramMergeAndReset(t *testing.T) {
	var a, b, all Histogram
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 5000 {
		d := time.Duration(r.Int64N(int64(50 * time.Millisecond)))
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		all.Record(d)
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{}) // merging an empty histogram changes nothing
	for _, q := range []float64{0.5, 0.9, 0.99, 1} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged Quantile(%v) = %v, want %v", q, m.Quantile(q), all.Quantile(q))
		}
	}
	if m.Count() != all.Count() || m.Min() != all.Min() || m.Max() != all.Max() || m.Mean() != all.Mean() {
		t.Errorf("merged count/min/max/mean = %d/%v/%v/%v, want %d/%v/%v/%v",
			m.Count(), m.Min(), m.Max(), m.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
	m.Reset()
	if m.Count() != 0 || m.Quantile(0.5) != 0 || m.Max() != 0 {
		t.Errorf("after Reset: count %d, p50 %v, max %v", m.Count(), m.Quantile(0.5), m.Max())
	}
	m.Record(7 * time.Millisecond)
	if m.Quantile(0.5) != 7*time.Millisecond || m.Min() != 7*time.Millisecond {
		t.Errorf("reused after Reset: p50 %v, min %v; want 7ms", m.Quantile(0.5), m.Min())
	}
}

func TestHistogramEmptyAndNegative(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Error("an empty histogram should answer zeros")
	}
	h.Record(-time.Second)
	if h.Max() != 0 || h.Count() != 1 {
		t.Errorf("a negative sample should count as 0: max %v, count %d", h.Max(), h.Count())
	}
}
