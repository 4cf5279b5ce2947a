package ratelimit

import (
	"math"
	"testing"
	"time"
)

func TestWindowStart(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 34, 56, 789, time.FixedZone("x", 3600+1800))
	got := WindowStart(at, time.Minute)
	if want := time.Date(2025, 3, 1, 12, 34, 0, 0, at.Location()); !got.Equal(want) {
		t.Fatalf("WindowStart = %v, want %v", got, want)
	}
	if got.UnixNano()%int64(time.Minute) != 0 {
		t.Fatal("window not aligned to the Unix epoch")
	}
}

func TestWindowedCountAndRetryAfter(t *testing.T) {
	const W = time.Minute
	ws := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		prev, cur  int
		elapsed    time.Duration // from ws to now
		limit      int
		wantCount  float64
		wantWaitNs time.Duration
	}{
		{"nothing", 0, 0, 0, 20, 0, 0},
		{"under limit", 0, 19, 10 * time.Second, 20, 19, 0},
		{"at limit, current window", 0, 20, 10 * time.Second, 20, 20, 50*time.Second + 1},
		{"at limit at the window start", 0, 20, 0, 20, 20, W + 1},
		{"previous full, window start", 20, 0, 0, 20, 20, 1},
		{"previous half covered", 20, 0, 30 * time.Second, 20, 10, 0},
		{"both, at limit", 10, 15, 30 * time.Second, 20, 20, 1},
		{"both, over limit", 10, 15, 15 * time.Second, 20, 22.5, 15*time.Second + 1},
		{"stored window became the previous", 0, 20, W + 30*time.Second, 20, 10, 0},
		{"stored window became the previous, refused", 0, 20, W + 15*time.Second, 15, 15, 1},
		{"stored window became the previous, over limit", 0, 20, W, 10, 20, 30*time.Second + 1},
		{"everything expired", 20, 20, 2 * W, 20, 0, 0},
		{"overshoot past the limit", 0, 40, 0, 20, 40, 90*time.Second + 1},
		{"clock stepped back", 0, 20, -5 * time.Second, 20, 20, W + 5*time.Second + 1},
		{"limit 0 is taken as 1", 0, 0, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := ws.Add(tt.elapsed)
			got := WindowedCount(tt.prev, tt.cur, ws, now, W)
			if math.Abs(got-tt.wantCount) > 1e-9 {
				t.Errorf("WindowedCount = %v, want %v", got, tt.wantCount)
			}
			wait := RetryAfter(tt.prev, tt.cur, tt.limit, ws, now, W)
			if wait != tt.wantWaitNs {
				t.Errorf("RetryAfter = %v, want %v", wait, tt.wantWaitNs)
			}
			if wait > 0 {
				// The wait is exact: refused a nanosecond before, allowed at.
				limit := float64(max(tt.limit, 1))
				if c := WindowedCount(tt.prev, tt.cur, ws, now.Add(wait), W); c >= limit {
					t.Errorf("count after the wait = %v, still >= %v", c, limit)
				}
				if c := WindowedCount(tt.prev, tt.cur, ws, now.Add(wait-1), W); c < limit {
					t.Errorf("count a nanosecond before the wait = %v, already < %v", c, limit)
				}
			}
		})
	}
}
