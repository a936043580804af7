package main

import (
	"log/slog"

	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/sealing"
	"github.com/threada/threada/internal/store"
)

// keyring is the sealer of the API's Temporal payloads (internal/sealing): nil without
// SECRETS_KEY, when the workflows it starts carry their inputs in the clear.
func keyring(cfg config.Config, st *store.Store, log *slog.Logger) (*sealing.Keyring, error) {
	if cfg.SecretsKey == "" {
		log.Warn("SECRETS_KEY is not set: the actions this process starts reach Temporal unsealed (headers and bodies readable in its histories)")
		return nil, nil
	}
	box, err := cfg.Box()
	if err != nil {
		return nil, err
	}
	return sealing.NewKeyring(st, box)
}
