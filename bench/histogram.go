package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram is a log-linear latency histogram in the manner of HdrHistogram:
// values below 256ns are counted exactly, and above that every power-of-two
// range is split into 128 equal buckets, so a bucket is never wider than
// 1/128 of its lower bound. Any quantile is therefore within 0.4% of the
// exact sample (half a bucket), memory is fixed (a few tens of KiB whatever
// the run's length), and merging two histograms is an addition. A zero
// Histogram is ready to use; it is not safe for concurrent use.
type Histogram struct {
	counts []uint64
	lo, hi int // the range of buckets that may be non-zero, hi exclusive
	n      uint64
	min    int64
	max    int64
	sum    float64
}

const (
	subBits    = 7
	subCount   = 1 << subBits // buckets per power of two
	exactLimit = 2 * subCount // values below this have a bucket each
	// numBuckets covers every non-negative int64: shifts 1 to 56.
	numBuckets = exactLimit + (64-subBits-1-1)*subCount
)

// bucketOf maps a value in nanoseconds to its bucket.
func bucketOf(v int64) int {
	if v < exactLimit {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (subBits + 1) // ≥ 1
	mantissa := int(v >> shift)                    // in [128, 256)
	return exactLimit + (shift-1)*subCount + (mantissa - subCount)
}

// bucketRange is the smallest value of bucket i and the bucket's width.
func bucketRange(i int) (lower, width int64) {
	if i < exactLimit {
		return int64(i), 1
	}
	shift := (i-exactLimit)/subCount + 1
	mantissa := int64((i-exactLimit)%subCount + subCount)
	return mantissa << shift, int64(1) << shift
}

// Record adds one sample. Negative durations (a clock step) count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
		h.lo, h.hi = numBuckets, 0
	}
	i := bucketOf(v)
	h.counts[i]++
	h.lo, h.hi = min(h.lo, i), max(h.hi, i+1)
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
		h.lo, h.hi = numBuckets, 0
	}
	for i := o.lo; i < o.hi; i++ {
		h.counts[i] += o.counts[i]
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.lo, h.hi = min(h.lo, o.lo), max(h.hi, o.hi)
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h, keeping its memory. It costs only the touched range.
func (h *Histogram) Reset() {
	if h.n > 0 {
		clear(h.counts[h.lo:h.hi])
	}
	h.lo, h.hi = numBuckets, 0
	h.n, h.min, h.max, h.sum = 0, 0, 0, 0
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest sample, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Min is the smallest sample, exactly.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Mean is the average sample, exactly (up to float rounding).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(math.Round(h.sum / float64(h.n)))
}

// Quantile returns the q-quantile (0 < q ≤ 1) by the nearest-rank
// definition: the smallest sample that at least ceil(q·n) samples do not
// exceed. The answer is the middle of that sample's bucket, clamped to the
// exact minimum and maximum, so Quantile(1) is Max and a quantile never
// lies outside the samples. It is 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	if rank == h.n {
		return time.Duration(h.max) // known exactly, no need for a bucket
	}
	var seen uint64
	for i := h.lo; i < h.hi; i++ {
		seen += h.counts[i]
		if seen >= rank {
			lower, width := bucketRange(i)
			v := lower + (width-1)/2
			return time.Duration(min(max(v, h.min), h.max))
		}
	}
	return time.Duration(h.max) // unreachable: the counts add up to n
}
