package keycrypt_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/keycrypt"
)

func newSealer(t *testing.T) *keycrypt.Sealer {
	t.Helper()
	key := make([]byte, keycrypt.KeySize)
	_, _ = rand.Read(key)
	s, err := keycrypt.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// der stands in for a PKCS #8 key: what matters is the leading 0x30.
var der = append([]byte{0x30, 0x82, 0x04, 0xbe}, bytes.Repeat([]byte{0xab}, 200)...)

func TestRoundTrip(t *testing.T) {
	s := newSealer(t)
	sealed, err := s.Seal("kid-1", der)
	if err != nil {
		t.Fatal(err)
	}
	if !keycrypt.IsSealed(sealed) {
		t.Fatal("IsSealed(sealed) = false")
	}
	if keycrypt.IsSealed(der) {
		t.Fatal("IsSealed(plaintext DER) = true")
	}
	if bytes.Contains(sealed, der[4:40]) {
		t.Fatal("sealed bytes contain the plaintext")
	}
	again, _ := s.Seal("kid-1", der)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one key are identical: nonce reused")
	}
	got, err := s.Open("kid-1", sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, der) {
		t.Fatal("Open returned different bytes")
	}
}

func TestSealEmptyKid(t *testing.T) {
	if _, err := newSealer(t).Seal("", der); err == nil {
		t.Fatal("Seal with an empty kid succeeded")
	}
}

func TestOpenFailures(t *testing.T) {
	s := newSealer(t)
	sealed, err := s.Seal("kid-1", der)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name   string
		sealer *keycrypt.Sealer
		kid    string
		sealed []byte
		want   error
	}{
		{"wrong kid", s, "kid-2", sealed, keycrypt.ErrCorrupt},
		{"wrong master key", newSealer(t), "kid-1", sealed, keycrypt.ErrWrongMasterKey},
		{"tampered nonce", s, "kid-1", flip(5 + 8), keycrypt.ErrCorrupt},
		{"tampered ciphertext", s, "kid-1", flip(len(sealed) / 2), keycrypt.ErrCorrupt},
		{"tampered tag", s, "kid-1", flip(len(sealed) - 1), keycrypt.ErrCorrupt},
		{"tampered fingerprint", s, "kid-1", flip(5), keycrypt.ErrWrongMasterKey},
		{"truncated", s, "kid-1", sealed[:5+8+12+15], keycrypt.ErrCorrupt},
		{"header only", s, "kid-1", sealed[:5+8], keycrypt.ErrCorrupt},
		{"plaintext DER", s, "kid-1", der, keycrypt.ErrCorrupt},
		{"empty", s, "kid-1", nil, keycrypt.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sealer.Open(tt.kid, tt.sealed)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open error = %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Fatal("Open returned bytes along with an error")
			}
		})
	}
}

func TestWrongMasterKeyNamesFingerprints(t *testing.T) {
	a, b := newSealer(t), newSealer(t)
	sealed, _ := a.Seal("k", der)
	_, err := b.Open("k", sealed)
	if msg := err.Error(); !strings.Contains(msg, a.Fingerprint()) || !strings.Contains(msg, b.Fingerprint()) {
		t.Fatalf("error %q does not name both fingerprints", msg)
	}
}

func TestNewSealerKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := keycrypt.NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer accepted a %d-byte key", n)
		}
	}
}

func TestConcurrentSealOpen(t *testing.T) {
	s := newSealer(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for g := range 50 {
		wg.Go(func() {
			kid := fmt.Sprintf("kid-%d", g)
			for i := range 20 {
				plain := append(bytes.Clone(der), byte(g), byte(i))
				sealed, err := s.Seal(kid, plain)
				if err != nil {
					errs <- err
					return
				}
				got, err := s.Open(kid, sealed)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, plain) {
					errs <- fmt.Errorf("goroutine %d: round trip changed the key", g)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func encodedKey() (string, []byte) {
	key := make([]byte, keycrypt.KeySize)
	_, _ = rand.Read(key)
	return base64.StdEncoding.EncodeToString(key), key
}

// sameKey reports whether two sealers hold the same master key, by opening
// with one what the other sealed.
func sameKey(t *testing.T, a, b *keycrypt.Sealer) bool {
	t.Helper()
	sealed, err := a.Seal("probe", der)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Open("probe", sealed)
	return err == nil
}

func TestLoadGeneratesThenReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // does not exist yet
	s1, src, err := keycrypt.LoadMasterKey(keycrypt.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, keycrypt.DefaultFileName)
	if !src.Generated || src.Env || src.Path != want {
		t.Fatalf("source = %+v, want generated at %s", src, want)
	}
	fi, err := os.Stat(want)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated key file mode = %#o, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("data dir holds %d entries, want only %s", len(entries), keycrypt.DefaultFileName)
	}

	s2, src, err := keycrypt.LoadMasterKey(keycrypt.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if src.Generated || src.Path != want {
		t.Fatalf("second load source = %+v, want the existing file", src)
	}
	if !sameKey(t, s1, s2) || s1.Fingerprint() != s2.Fingerprint() {
		t.Fatal("second load returned a different key")
	}
}

func TestLoadConcurrentGeneration(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	sealers := make([]*keycrypt.Sealer, n)
	generated := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, src, err := keycrypt.LoadMasterKey(keycrypt.Options{DataDir: dir})
			if err != nil {
				t.Error(err)
				return
			}
			sealers[i], generated[i] = s, src.Generated
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	count := 0
	for i, s := range sealers {
		if generated[i] {
			count++
		}
		if s.Fingerprint() != sealers[0].Fingerprint() {
			t.Fatal("concurrent starts ended with different keys")
		}
	}
	if count != 1 {
		t.Fatalf("%d loads report generating the key, want 1", count)
	}
}

func writeKey(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is subject to umask
		t.Fatal(err)
	}
	return path
}

func TestLoadPrecedence(t *testing.T) {
	envEnc, envKey := encodedKey()
	fileEnc, fileKey := encodedKey()
	dataEnc, dataKey := encodedKey()
	envSealer, _ := keycrypt.NewSealer(envKey)
	fileSealer, _ := keycrypt.NewSealer(fileKey)
	dataSealer, _ := keycrypt.NewSealer(dataKey)

	keyFile := writeKey(t, fileEnc+"\n", 0o600)
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, keycrypt.DefaultFileName), []byte(dataEnc), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		opts keycrypt.Options
		want *keycrypt.Sealer
		src  keycrypt.Source
	}{
		{"env over file", keycrypt.Options{EnvValue: envEnc, KeyFile: keyFile, DataDir: dataDir}, envSealer, keycrypt.Source{Env: true}},
		{"file over data dir", keycrypt.Options{KeyFile: keyFile, DataDir: dataDir}, fileSealer, keycrypt.Source{Path: keyFile}},
		{"data dir", keycrypt.Options{DataDir: dataDir}, dataSealer, keycrypt.Source{Path: filepath.Join(dataDir, keycrypt.DefaultFileName)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, src, err := keycrypt.LoadMasterKey(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if src != tt.src {
				t.Fatalf("source = %+v, want %+v", src, tt.src)
			}
			if s.Fingerprint() != tt.want.Fingerprint() || !sameKey(t, s, tt.want) {
				t.Fatal("loaded the wrong key")
			}
		})
	}
}

func TestLoadEncodings(t *testing.T) {
	key := make([]byte, keycrypt.KeySize)
	_, _ = rand.Read(key)
	want, _ := keycrypt.NewSealer(key)
	for name, enc := range map[string]*base64.Encoding{
		"std": base64.StdEncoding, "raw std": base64.RawStdEncoding,
		"url": base64.URLEncoding, "raw url": base64.RawURLEncoding,
	} {
		t.Run(name, func(t *testing.T) {
			s, _, err := keycrypt.LoadMasterKey(keycrypt.Options{EnvValue: " \t" + enc.EncodeToString(key) + "\r\n"})
			if err != nil {
				t.Fatal(err)
			}
			if s.Fingerprint() != want.Fingerprint() {
				t.Fatal("decoded a different key")
			}
		})
	}
}

func TestLoadMalformedNeverEchoes(t *testing.T) {
	valid, _ := encodedKey()
	tests := []struct{ name, value string }{
		{"too short", base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))},
		{"too long", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 48))},
		{"not base64", "this-is-not*base64!but-a-secret-typo"},
		{"valid key with a typo", valid[:20] + "*" + valid[21:]},
		{"hex", strings.Repeat("deadbeef", 8)},
		{"whitespace only", "  \n "},
	}
	for _, tt := range tests {
		check := func(t *testing.T, err error) {
			t.Helper()
			if err == nil {
				t.Fatal("malformed key accepted")
			}
			if v := strings.TrimSpace(tt.value); v != "" && strings.Contains(err.Error(), v[:8]) {
				t.Fatalf("error %q repeats the value", err)
			}
		}
		t.Run("env/"+tt.name, func(t *testing.T) {
			_, _, err := keycrypt.LoadMasterKey(keycrypt.Options{EnvValue: tt.value, DataDir: t.TempDir()})
			check(t, err)
			if !strings.Contains(err.Error(), keycrypt.EnvVar) {
				t.Fatalf("error %q does not name %s", err, keycrypt.EnvVar)
			}
		})
		t.Run("file/"+tt.name, func(t *testing.T) {
			path := writeKey(t, tt.value, 0o600)
			_, _, err := keycrypt.LoadMasterKey(keycrypt.Options{KeyFile: path})
			check(t, err)
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
		})
	}
}

func TestLoadRefusesLoosePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix mode bits")
	}
	enc, _ := encodedKey()
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660, 0o666} {
		path := writeKey(t, enc, mode)
		_, _, err := keycrypt.LoadMasterKey(keycrypt.Options{KeyFile: path})
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %#o: error = %v, want a refusal telling to chmod 600", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		path := writeKey(t, enc, mode)
		if _, _, err := keycrypt.LoadMasterKey(keycrypt.Options{KeyFile: path}); err != nil {
			t.Errorf("mode %#o refused: %v", mode, err)
		}
	}
	// The default file in the data dir is checked the same way.
	dir := t.TempDir()
	path := filepath.Join(dir, keycrypt.DefaultFileName)
	if err := os.WriteFile(path, []byte(enc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keycrypt.LoadMasterKey(keycrypt.Options{DataDir: dir}); err == nil {
		t.Error("loose default key file accepted")
	}
}

func TestLoadExplicitFileMissing(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.key")
	_, _, err := keycrypt.LoadMasterKey(keycrypt.Options{KeyFile: missing, DataDir: dir})
	if err == nil {
		t.Fatal("missing explicit key file accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, keycrypt.DefaultFileName)); err == nil {
		t.Fatal("a key was generated although an explicit key file was configured")
	}
}

func TestLoadNoSource(t *testing.T) {
	if _, _, err := keycrypt.LoadMasterKey(keycrypt.Options{}); err == nil {
		t.Fatal("no source and no data dir accepted")
	}
}

func TestLoadRejectsOversizedFileAndDirectory(t *testing.T) {
	path := writeKey(t, strings.Repeat("A", 5000), 0o600)
	if _, _, err := keycrypt.LoadMasterKey(keycrypt.Options{KeyFile: path}); err == nil {
		t.Error("oversized key file accepted")
	}
	if _, _, err := keycrypt.LoadMasterKey(keycrypt.Options{KeyFile: t.TempDir()}); err == nil {
		t.Error("directory accepted as key file")
	}
}

func TestSourceString(t *testing.T) {
	for src, want := range map[keycrypt.Source]string{
		{Env: true}:                     "environment variable GATEHOUSE_MASTER_KEY",
		{Path: "/d/master.key"}:         "key file /d/master.key",
		{Path: "/d/k", Generated: true}: "generated key file /d/k",
	} {
		if got := src.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", src, got, want)
		}
	}
}
