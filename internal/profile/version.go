package profile

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// Version is a profile's content hash: the first 16 hex digits of the
// SHA-256 of its SyncML. Changing the SyncML re-delivers it everywhere;
// changing only its targets or retries does not.
func Version(syncML string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(syncML)))
	return hex.EncodeToString(sum[:8])
}

// sensitiveVersionSecret names the stored key of sensitive profiles'
// versions.
const sensitiveVersionSecret = "profile-version-key"

// keyVersion gives a sensitive profile a version keyed with a secret of
// the store: its plain hash, shown by the API, CLI and console next to the
// redacted SyncML, would let anyone who reads them test guesses of the
// secret it holds (a Wi-Fi key, a PIN) offline, since the rest of such a
// fragment is usually copied from Microsoft's documentation.
func (s *Service) keyVersion(ctx context.Context, p *store.Profile) error {
	key, err := s.Store.Secret(ctx, sensitiveVersionSecret)
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(strings.TrimSpace(p.SyncML)))
	p.Version = hex.EncodeToString(mac.Sum(nil)[:8])
	return nil
}
