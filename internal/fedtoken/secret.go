package fedtoken

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"

	"github.com/caddyserver/certmagic"
)

// secretKey is where the token secret lives when none is configured.
const secretKey = "mdm/tokens/secret"

// StoredSecret returns the token secret kept in storage, creating a random
// one on first use. The first node to start creates it under the storage
// lock; every node then shares it, so a token minted on one verifies on
// all.
func StoredSecret(ctx context.Context, s certmagic.Storage) ([]byte, error) {
	if b, err := loadSecret(ctx, s); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	const lock = "mdm_token_secret"
	if err := s.Lock(ctx, lock); err != nil {
		return nil, fmt.Errorf("locking the token secret: %w", err)
	}
	defer func() { _ = s.Unlock(context.WithoutCancel(ctx), lock) }()
	if b, err := loadSecret(ctx, s); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := s.Store(ctx, secretKey, []byte(base64.StdEncoding.EncodeToString(b))); err != nil {
		return nil, fmt.Errorf("storing the token secret: %w", err)
	}
	return b, nil
}

func loadSecret(ctx context.Context, s certmagic.Storage) ([]byte, error) {
	raw, err := s.Load(ctx, secretKey)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(string(raw))
	if err != nil || len(b) < MinSecretLength {
		return nil, fmt.Errorf("the token secret in storage (%s) is damaged: delete it to make a new one (tokens out now stop working)", secretKey)
	}
	return b, nil
}
