package server_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testdc"
)

// dc is one data center served over real HTTP on a loopback listener, with
// internal/testdc's request helpers and this package's own.
type dc struct {
	*testdc.DataCenter
	t *testing.T
}

// newDC starts a data center with a bootstrapped admin client, on a fresh
// SQLite file unless opt names a directory.
func newDC(t *testing.T, opt testdc.Options) *dc {
	t.Helper()
	return &dc{testdc.Start(t, opt), t}
}
