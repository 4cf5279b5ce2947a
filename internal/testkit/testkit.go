// Package testkit holds what tests across packages share and that needs no
// data center: the test master key (Sealer), a settable Clock, HTTP request
// helpers (Response, Do, Get, Basic), waiting on background work (Events)
// and on other processes (Eventually), and SyncBuffer. Nothing a server
// would use; it must not import the service or the server, so that their
// own tests can use it. The data-center-bound helpers are internal/testdc's.
package testkit

import (
	"crypto/rand"
	"sync"

	"github.com/gatehouse-dev/gatehouse/keycrypt"
)

var (
	once   sync.Once
	sealer *keycrypt.Sealer
)

// Sealer returns a master-key sealer with a random key, the same one for
// the whole test process, so a data center restarted in a test opens the
// keys it sealed before.
func Sealer() *keycrypt.Sealer {
	once.Do(func() {
		key := make([]byte, keycrypt.KeySize)
		rand.Read(key)
		s, err := keycrypt.NewSealer(key)
		if err != nil {
			panic(err)
		}
		sealer = s
	})
	return sealer
}
