package keycrypt

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Names the operator meets in documentation and in error messages.
const (
	EnvVar          = "GATEHOUSE_MASTER_KEY"
	FileEnvVar      = "GATEHOUSE_MASTER_KEY_FILE"
	DefaultFileName = "master.key"
)

// maxKeyFileSize bounds what LoadMasterKey reads: a key is 44 characters, so
// anything much longer is the wrong file, and need not be read to say so.
const maxKeyFileSize = 4096

// Options says where the master key may come from, in order of precedence.
type Options struct {
	// EnvValue is the content of GATEHOUSE_MASTER_KEY, "" when unset.
	EnvValue string
	// KeyFile is an explicitly configured key file (--master-key-file,
	// GATEHOUSE_MASTER_KEY_FILE), "" when none is.
	KeyFile string
	// DataDir holds the default key file, DataDir/master.key, which is
	// generated on first start when no other source is configured.
	DataDir string
}

// Source says where LoadMasterKey found the master key, for the log line at
// start-up. It never holds the key.
type Source struct {
	Env       bool   // from GATEHOUSE_MASTER_KEY
	Path      string // the key file read or generated; "" when Env
	Generated bool   // Path was created just now
}

func (s Source) String() string {
	switch {
	case s.Env:
		return "environment variable " + EnvVar
	case s.Generated:
		return "generated key file " + s.Path
	default:
		return "key file " + s.Path
	}
}

// LoadMasterKey returns a Sealer for the master key taken from, in order:
// opts.EnvValue, opts.KeyFile, DataDir/master.key. When none of them exists it
// generates a random key into DataDir/master.key (mode 0600) and reports
// Source.Generated, so that the caller can tell the operator to move it to a
// secret store: a key beside the database it protects guards against a
// leaked dump, not against a stolen disk.
//
// An explicitly configured KeyFile that does not exist is an error, never a
// reason to generate one: it most likely means a secret volume failed to
// mount, and a fresh key would not open the keys sealed under the real one.
//
// A key is the base64 (standard or URL alphabet, padded or not) of 32 bytes;
// surrounding whitespace is ignored. Errors name the source but never repeat
// its content, which might be a real key with a typo.
func LoadMasterKey(opts Options) (*Sealer, Source, error) {
	if opts.EnvValue != "" {
		src := Source{Env: true}
		s, err := sealerFrom([]byte(opts.EnvValue), EnvVar)
		return s, src, err
	}
	if opts.KeyFile != "" {
		src := Source{Path: opts.KeyFile}
		s, err := loadFile(opts.KeyFile)
		return s, src, err
	}
	if opts.DataDir == "" {
		return nil, Source{}, fmt.Errorf("no master key: set %s or %s, or give a data directory to generate one in", EnvVar, FileEnvVar)
	}
	path := filepath.Join(opts.DataDir, DefaultFileName)
	s, err := loadFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, Source{Path: path}, err
	}
	return generate(opts.DataDir, path)
}

// loadFile reads and checks a key file. A missing file yields an error
// wrapping fs.ErrNotExist.
func loadFile(path string) (*Sealer, error) {
	what := "master key file " + path
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err) // the error names the path
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", what)
	}
	// Fail closed on a key others can read: mode bits are the only access
	// control a key file has, and loose ones usually mean it was copied
	// carelessly. Windows does not keep these bits, so they say nothing there.
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("%s is accessible to group or others (mode %#o); run: chmod 600 %s", what, perm, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(b) > maxKeyFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a master key", what, maxKeyFileSize)
	}
	return sealerFrom(b, what)
}

// sealerFrom decodes an encoded key and builds its Sealer, clearing the
// decoded key afterwards so it lives only inside the cipher.
func sealerFrom(encoded []byte, what string) (*Sealer, error) {
	key, err := decodeKey(encoded)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer clear(key)
	return NewSealer(key)
}

// decodeKey accepts the four base64 variants. Its errors describe the shape
// of the input (lengths), never its content: base64 errors name the offending
// byte's position only, but are dropped anyway so that no future change to
// them can leak a key into a log.
func decodeKey(encoded []byte) ([]byte, error) {
	s := strings.TrimSpace(string(encoded))
	if s == "" {
		return nil, fmt.Errorf("empty; want the base64 encoding of %d random bytes", KeySize)
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		key, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(key) != KeySize {
			clear(key)
			return nil, fmt.Errorf("decodes to %d bytes; want the base64 encoding of exactly %d random bytes", len(key), KeySize)
		}
		return key, nil
	}
	return nil, fmt.Errorf("not valid base64 (%d characters); want the base64 encoding of %d random bytes", len(s), KeySize)
}

// generate creates a fresh key at path. The key is written to a temporary
// file (created with O_EXCL and mode 0600), synced, and then hard-linked to
// path, which fails if path exists: so no reader ever sees a half-written key
// file, and of two processes starting at once on one data directory exactly
// one key wins and the other process loads it.
func generate(dir, path string) (*Sealer, Source, error) {
	src := Source{Path: path}
	fail := func(err error) (*Sealer, Source, error) {
		return nil, src, fmt.Errorf("generate master key file %s: %w", path, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	key := make([]byte, KeySize)
	defer clear(key)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(key)
	s, err := NewSealer(key)
	if err != nil {
		return fail(err)
	}
	encoded := []byte(base64.StdEncoding.EncodeToString(key) + "\n")
	defer clear(encoded)

	tmp, err := os.CreateTemp(dir, "."+DefaultFileName+".tmp-*") // mode 0600
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name()) // on failure; harmless after the explicit remove below
	_, err = tmp.Write(encoded)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	err = os.Link(tmp.Name(), path)
	// The temporary name has served its purpose either way; the file itself
	// lives on under path when the link succeeded.
	_ = os.Remove(tmp.Name())
	if errors.Is(err, fs.ErrExist) {
		// Another process generated one first: use it, not ours.
		s, err := loadFile(path)
		return s, src, err
	}
	if err != nil {
		return fail(err)
	}
	// Make the new directory entry durable: otherwise a crash could lose the
	// key file after keys sealed under it reached the database.
	if err := syncDir(dir); err != nil {
		return fail(err)
	}
	src.Generated = true
	return s, src, nil
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
