package token

import (
	"context"
	"slices"
	"sync"
)

// fairGate hands out a fixed number of slots (one per CPU) to requests of
// many clients. Waiters queue per client, and a freed slot goes to the
// client whose turn it is, round robin over the clients that wait, rather
// than to the longest waiter: a client with sixty-four requests queued gets
// one slot in turn like a client with one, so it cannot make its
// neighbours wait behind its backlog. Within a client, requests are served
// first come, first served.
//
// Memory is bounded by the requests waiting: a client with none queued
// costs nothing.
type fairGate struct {
	mu     sync.Mutex
	free   int
	queues map[string][]*gateWaiter
	// turns are the clients with waiters, in the order they are served.
	turns []string
}

type gateWaiter struct {
	ready   chan struct{} // closed when the slot is handed over
	granted bool          // set under mu, before ready is closed
}

func newFairGate(slots int) *fairGate {
	return &fairGate{free: max(1, slots), queues: map[string][]*gateWaiter{}}
}

// acquire takes a slot for key, waiting for its turn. It returns ctx's
// error, holding nothing, if ctx ends first.
func (g *fairGate) acquire(ctx context.Context, key string) error {
	g.mu.Lock()
	if g.free > 0 && len(g.turns) == 0 {
		g.free--
		g.mu.Unlock()
		return nil
	}
	w := &gateWaiter{ready: make(chan struct{})}
	q, waiting := g.queues[key]
	g.queues[key] = append(q, w)
	if !waiting {
		g.turns = append(g.turns, key)
	}
	g.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	if w.granted {
		// The slot arrived as ctx ended: pass it on rather than leak it.
		g.mu.Unlock()
		g.release()
		return ctx.Err()
	}
	q = g.queues[key]
	q = slices.DeleteFunc(q, func(x *gateWaiter) bool { return x == w })
	if len(q) == 0 {
		delete(g.queues, key)
		g.turns = slices.DeleteFunc(g.turns, func(k string) bool { return k == key })
	} else {
		g.queues[key] = q
	}
	g.mu.Unlock()
	return ctx.Err()
}

// release frees a slot, handing it to the first waiter of the client
// whose turn it is; that client goes to the back of the turns if it has
// more waiting.
func (g *fairGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.turns) == 0 {
		g.free++
		return
	}
	key := g.turns[0]
	g.turns = g.turns[1:]
	q := g.queues[key]
	w := q[0]
	if len(q) == 1 {
		delete(g.queues, key)
	} else {
		g.queues[key] = q[1:]
		g.turns = append(g.turns, key)
	}
	w.granted = true
	close(w.ready)
}

// backlog reports whether more requests of key wait for a slot.
func (g *fairGate) backlog(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queues[key]) > 0
}

// state reports the free slots and the waiters, for tests.
func (g *fairGate) state() (free, waiting int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, q := range g.queues {
		waiting += len(q)
	}
	return g.free, waiting
}
