package caddymdm

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/profile"
)

// profiles_dir: a directory of <name>.xml profiles (targets in an @mdm
// comment line, see internal/profile/dir.go) that describes a fleet's
// policy next to the Caddyfile in version control. The files are read and
// validated when the config is provisioned, so a broken file fails the
// config load (and a reload keeps the running config); they are applied
// when the app starts, which a config reload does again.

// loadProfilesDir reads and validates the profiles_dir, if one is set.
func (a *App) loadProfilesDir() error {
	if a.ProfilesDir == "" {
		return nil
	}
	reqs, err := profile.LoadDir(a.ProfilesDir)
	if err != nil {
		return fmt.Errorf("mdm profiles_dir: %v", err)
	}
	a.dirProfiles = reqs
	return nil
}

// syncProfilesDir applies the profiles read at provisioning.
func (a *App) syncProfilesDir(ctx context.Context) error {
	if a.ProfilesDir == "" {
		return nil
	}
	changed, deleted, err := a.Profiles().SyncDir(ctx, a.dirProfiles)
	if err != nil {
		return fmt.Errorf("mdm profiles_dir %s: %v", a.ProfilesDir, err)
	}
	a.logger.Info("profiles_dir applied", zap.String("dir", a.ProfilesDir), zap.Int("profiles", len(a.dirProfiles)),
		zap.Strings("changed", changed), zap.Strings("deleted", deleted))
	return nil
}
