package service

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse"
)

// BootstrapCredentials are the first admin client's credentials.
type BootstrapCredentials struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	TenantID     string `json:"tenant_id"`
}

// NewBootstrapCredentials returns generated credentials for the first admin.
func NewBootstrapCredentials() BootstrapCredentials {
	return BootstrapCredentials{ClientID: uuid.NewString(), ClientSecret: gatehouse.NewSecret(), TenantID: uuid.NewString()}
}

// Bootstrap creates the root tenant and an admin client with cred if the
// store is empty, and reports whether it did. Operator-chosen credentials
// must pass gatehouse.ValidateOperatorCredentials first.
func (s *Service) Bootstrap(ctx context.Context, cred BootstrapCredentials) (bool, error) {
	if err := gatehouse.ValidateOperatorCredentials(cred.ClientID, cred.ClientSecret); err != nil {
		return false, err
	}
	if cred.TenantID == "" {
		cred.TenantID = uuid.NewString()
	}
	now := s.now().UTC()
	root := gatehouse.Tenant{
		ID: cred.TenantID, Name: "root", Kind: "root", Enabled: true, Version: 1,
		CreatedAt: now, UpdatedAt: now,
	}
	data, _ := json.Marshal(map[string]string{"client_name": "bootstrap admin"})
	admin := gatehouse.Client{
		ID:         cred.ClientID,
		TenantID:   root.ID,
		AuthMethod: gatehouse.AuthSecretBasic,
		Role:       gatehouse.RoleTenantAdmin,
		Status:     gatehouse.StatusEnabled,
		Data:       data,
		SecretHash: s.secrets.Hash(cred.ClientID, cred.ClientSecret),
		Generation: 1,
		CreatedAt:  now,
		CreatedBy:  cred.ClientID,
		UpdatedAt:  now,
	}
	created, err := s.store.Bootstrap(ctx, root, admin)
	if err != nil {
		return false, unavailable(err)
	}
	return created, nil
}
