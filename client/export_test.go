package client

import (
	"context"
	"time"
)

// SetSleep replaces the wait between retries, so that tests can record the
// waits instead of sleeping through them. Call it before the Client is used.
func (c *Client) SetSleep(f func(ctx context.Context, d time.Duration) error) { c.retry.sleep = f }
