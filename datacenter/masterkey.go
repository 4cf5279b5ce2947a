package datacenter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/keycrypt"
)

// loadMasterKey finds the master key the signing keys are sealed under,
// generating one only where a generated key is right, and logs where it
// came from (never the key).
func loadMasterKey(ctx context.Context, cfg Config, store gatehouse.Store) (*keycrypt.Sealer, error) {
	log := cfg.Logger
	if err := checkMasterKeySource(ctx, cfg, store); err != nil {
		return nil, err
	}
	sealer, src, err := keycrypt.LoadMasterKey(keycrypt.Options{
		EnvValue: cfg.MasterKey, KeyFile: cfg.MasterKeyFile, DataDir: cfg.DataDir,
	})
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	switch {
	case src.Generated && cfg.LocalMasterKey:
		log.Info("generated a master key for the signing keys", "file", src.Path)
	case src.Generated:
		log.Warn("generated a master key for the signing keys; move it to a secret store and pass it as GATEHOUSE_MASTER_KEY or --master-key-file",
			"file", src.Path)
	default:
		log.Info("master key loaded", "from", src.String(), "fingerprint", sealer.Fingerprint())
	}
	return sealer, nil
}

// checkMasterKeySource refuses to generate a master key where a generated
// one would be wrong: for replicas sharing PostgreSQL, which must all use
// the same key, and for a store that already holds keys sealed under a key
// that is not configured (a new key would only fail to open them, and leave
// a stray key file behind).
func checkMasterKeySource(ctx context.Context, cfg Config, store gatehouse.Store) error {
	if cfg.MasterKey != "" || cfg.MasterKeyFile != "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, keycrypt.DefaultFileName)); err == nil {
		return nil
	}
	if isPostgres(cfg.Database) {
		return errors.New("with --database, set GATEHOUSE_MASTER_KEY or --master-key-file: every replica needs the same master key, so none is generated")
	}
	keys, err := store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("read signing keys: %w", err)
	}
	if len(keys) > 0 {
		return fmt.Errorf("the store holds signing keys sealed under a master key, but none is configured and %s does not exist: "+
			"set GATEHOUSE_MASTER_KEY or --master-key-file to the key this data center was started with", filepath.Join(cfg.DataDir, keycrypt.DefaultFileName))
	}
	return nil
}
