package replica

import "fmt"

// UnwrittenError reports what Stop could not write: lost, since nothing
// writes after it.
type UnwrittenError struct {
	Accesses    int // clients whose last access was not written
	TokenCounts int // per-client hourly token counts not written
	Err         error
}

func (e *UnwrittenError) Error() string {
	return fmt.Sprintf("%d client accesses and %d token counts were not written: %v", e.Accesses, e.TokenCounts, e.Err)
}

func (e *UnwrittenError) Unwrap() error { return e.Err }
