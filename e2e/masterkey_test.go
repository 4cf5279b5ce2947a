package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A store whose keys are sealed under a master key that is not configured
// is refused, and no new key file is left behind.
func TestMissingMasterKeyRefused(t *testing.T) {
	s := startServer(t, serverOpts{})
	s.kill()
	keyFile := filepath.Join(s.DataDir, "master.key")
	if err := os.Remove(keyFile); err != nil {
		t.Fatalf("the first start wrote no master key: %v", err)
	}
	again := launch(t, serverOpts{dataDir: s.DataDir}, freePort(t))
	if code := again.waitExit(t, 20*time.Second); code == 0 {
		t.Fatal("started without the master key its keys are sealed under")
	}
	if msg := again.stderr.String(); !strings.Contains(msg, "GATEHOUSE_MASTER_KEY") {
		t.Errorf("refusal does not say what to do:\n%s", msg)
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Error("a refused start generated a new master key file")
	}
}
