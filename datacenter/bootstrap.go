package datacenter

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/service"
)

// validateChosen refuses weak or awkward operator-chosen credentials
// before anything starts.
func validateChosen(cred service.BootstrapCredentials) error {
	if err := gatehouse.ValidateOperatorCredentials(cred.ClientID, cred.ClientSecret); err != nil {
		return fmt.Errorf("bootstrap credentials refused: %w", err)
	}
	return nil
}

// bootstrap creates the first admin on an empty store. Generated
// credentials are written to a file before the store commits them, so they
// cannot be lost; the log names the file, never its content.
func bootstrap(ctx context.Context, svc *service.Service, log *slog.Logger, dataDir string, chosen *service.BootstrapCredentials) error {
	if chosen != nil {
		created, err := svc.Bootstrap(ctx, *chosen)
		if err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		if created {
			log.Info("bootstrapped root tenant and admin client from the environment", "client_id", chosen.ClientID, "tenant_id", chosen.TenantID)
		} else {
			log.Warn("the store is already bootstrapped: GATEHOUSE_BOOTSTRAP_CLIENT_ID and GATEHOUSE_BOOTSTRAP_CLIENT_SECRET are ignored; " +
				"manage the admin client through the API (gatehouse clients regenerate-secret)")
		}
		return nil
	}
	cred := service.NewBootstrapCredentials()
	final := filepath.Join(dataDir, BootstrapFile)
	tmp, err := os.CreateTemp(dataDir, BootstrapFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("bootstrap: %w", err)
	}
	b, _ := json.MarshalIndent(cred, "", "  ")
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	created, err := svc.Bootstrap(ctx, cred)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if !created {
		warnStrandedBootstrapFiles(log, dataDir, final, tmp.Name())
		return nil
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("bootstrap: credentials are in %s but could not be moved to %s: %w", tmp.Name(), final, err)
	}
	if err := syncDir(dataDir); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	log.Info("bootstrapped root tenant and admin client; its credentials are in the file named here (mode 0600)",
		"file", final)
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// warnStrandedBootstrapFiles points the operator at credentials a crash
// left behind: written and committed, but not yet renamed into place.
func warnStrandedBootstrapFiles(log *slog.Logger, dataDir, final, ours string) {
	if _, err := os.Stat(final); err == nil {
		return
	}
	stranded, _ := filepath.Glob(filepath.Join(dataDir, BootstrapFile+".*.tmp"))
	for _, f := range stranded {
		if f != ours {
			log.Warn("found bootstrap credentials left by an interrupted first start; if the admin client works with them, rename the file", "file", f, "to", final)
		}
	}
}
