package keycrypt_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/gatehouse-dev/gatehouse/keycrypt"
)

// At start-up: load the master key, say where it came from (never the key),
// and open every stored key, sealing the plaintext ones left from before
// encryption at rest.
func Example() {
	dataDir, _ := os.MkdirTemp("", "gatehouse")
	defer os.RemoveAll(dataDir)

	// A server passes EnvValue: os.Getenv(keycrypt.EnvVar) and KeyFile from
	// its flag or keycrypt.FileEnvVar; neither is set here.
	sealer, src, err := keycrypt.LoadMasterKey(keycrypt.Options{DataDir: dataDir})
	if err != nil {
		fmt.Println("refusing to start:", err)
		return
	}
	if src.Generated {
		fmt.Println("generated a master key; move it to a secret store")
	}

	stored := []byte{0x30, 0x82} // a plaintext PKCS #8 row from an older version
	if !keycrypt.IsSealed(stored) {
		stored, _ = sealer.Seal("kid-1", stored) // then write it back
	}
	der, err := sealer.Open("kid-1", stored)
	switch {
	case errors.Is(err, keycrypt.ErrWrongMasterKey):
		fmt.Println("refusing to start: the configured master key did not seal these keys")
	case err != nil:
		fmt.Println("refusing to start:", err)
	default:
		fmt.Printf("opened a %d-byte key\n", len(der))
	}
	// Output:
	// generated a master key; move it to a secret store
	// opened a 2-byte key
}
