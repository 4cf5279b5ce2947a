package ratelimit_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.RunLimiter(t, func(t *testing.T, cfg ratelimit.Config) gatehouse.Limiter {
		return ratelimit.NewMemory(cfg)
	})
}
