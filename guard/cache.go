package guard

import (
	"container/list"
	"sync"
	"time"
)

// tokenCache remembers, per token hash, that a token passed verification
// and what its data center last said of its status, so a repeated token
// costs neither a signature check nor an introspection call. It holds at
// most max tokens and forgets the least recently used first.
type tokenCache struct {
	mu    sync.Mutex
	max   int
	lru   list.List // of *entry; the front was used last
	byKey map[[32]byte]*list.Element
}

type entry struct {
	key    [32]byte
	iss    *issuer
	claims *Claims
	// from and until bound the time in which the verification stands,
	// leeway included.
	from, until time.Time
	// statusUntil is when the cached status stops being used; zero while
	// none is known.
	statusUntil time.Time
	active      bool
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{
		max:   max,
		byKey: make(map[[32]byte]*list.Element),
	}
}

// verified returns the issuer and claims of a token verified before, if
// its verification still stands at now. An entry outside its time is
// dropped, so the token is verified afresh and refused with the right code.
func (t *tokenCache) verified(key [32]byte, now time.Time) (*issuer, *Claims, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	el := t.byKey[key]
	if el == nil {
		return nil, nil, false
	}
	e := el.Value.(*entry)
	if now.Before(e.from) || now.After(e.until) {
		t.removeLocked(el)
		return nil, nil, false
	}
	t.lru.MoveToFront(el)
	return e.iss, e.claims, true
}

// add remembers a verified token. A token already there keeps its entry,
// and with it any status that a concurrent request has cached meanwhile.
func (t *tokenCache) add(key [32]byte, iss *issuer, claims *Claims, from, until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el := t.byKey[key]; el != nil {
		t.lru.MoveToFront(el)
		return
	}
	for t.lru.Len() >= t.max {
		t.removeLocked(t.lru.Back())
	}
	t.byKey[key] = t.lru.PushFront(&entry{key: key, iss: iss, claims: claims, from: from, until: until})
}

func (t *tokenCache) removeLocked(el *list.Element) {
	delete(t.byKey, el.Value.(*entry).key)
	t.lru.Remove(el)
}

// status returns the cached status of a token, if it is fresh.
func (t *tokenCache) status(key [32]byte, now time.Time) (active, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	el := t.byKey[key]
	if el == nil {
		return false, false
	}
	e := el.Value.(*entry)
	if !now.Before(e.statusUntil) {
		return false, false
	}
	return e.active, true
}

// setStatus caches a token's status until the given time. A token
// forgotten while its introspection ran is not brought back: the next
// request verifies and asks again.
func (t *tokenCache) setStatus(key [32]byte, active bool, until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el := t.byKey[key]; el != nil {
		e := el.Value.(*entry)
		e.active, e.statusUntil = active, until
	}
}

// len reports how many tokens are remembered.
func (t *tokenCache) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Len()
}
