package testkit

import "sync"

// Race runs fn(0) to fn(n-1) in n goroutines released at the same moment,
// so that they contend as hard as the scheduler lets them, and returns
// each call's error at its index once all have returned.
func Race(n int, fn func(i int) error) []error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}
