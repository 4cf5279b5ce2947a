package ratelimit_test

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/gatehouse-dev/gatehouse/ratelimit"
)

// The token endpoint asks before it checks a secret, counts only failures,
// and sends the wait as whole seconds, rounded up.
func Example() {
	now := time.Date(2025, 3, 1, 12, 0, 30, 250e6, time.UTC)
	lim := ratelimit.NewMemory(ratelimit.Config{Limit: 3, Now: func() time.Time { return now }})
	ctx := context.Background()

	authenticate := func(clientID, addr, secret string) string {
		keys := []string{"cid:" + clientID + "|ip:" + addr, "ip:" + addr}
		if wait, _ := lim.Allowed(ctx, keys...); wait > 0 {
			return fmt.Sprintf("429 Retry-After: %.0f", math.Ceil(wait.Seconds()))
		}
		if secret != "right" {
			_ = lim.Fail(ctx, keys...)
			return "401"
		}
		return "200"
	}

	for range 4 {
		fmt.Println(authenticate("app", "192.0.2.1", "guess"))
	}
	fmt.Println(authenticate("app", "192.0.2.1", "right"))    // the address is blocked
	fmt.Println(authenticate("app", "198.51.100.9", "right")) // the client is not
	// Output:
	// 401
	// 401
	// 401
	// 429 Retry-After: 30
	// 429 Retry-After: 30
	// 200
}
