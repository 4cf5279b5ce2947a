// Package testkit holds what tests across packages need to start a data
// center in-process, and nothing a server would use.
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
