package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
)

// secretsPrefix holds server secrets that every node must share (e.g. the
// console's CSRF key): never a device's, never shown anywhere.
const secretsPrefix = "mdm/secrets/"

// minStoredSecret is the size of a stored secret, and the least accepted.
const minStoredSecret = 32

// Secret returns the named server secret kept in the store, creating a
// random 32-byte one on first use. The first node to need it creates it
// under the storage's lock, so every node of a cluster then reads the
// same value. name is a fixed identifier chosen by the caller.
func (s *Store) Secret(ctx context.Context, name string) ([]byte, error) {
	key := secretsPrefix + name
	if b, err := s.loadSecret(ctx, key); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	if err := s.storage.Lock(ctx, key); err != nil {
		return nil, fmt.Errorf("locking secret %s: %w", name, err)
	}
	defer func() { _ = s.storage.Unlock(context.WithoutCancel(ctx), key) }()
	if b, err := s.loadSecret(ctx, key); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	b := make([]byte, minStoredSecret)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := s.storage.Store(ctx, key, []byte(base64.StdEncoding.EncodeToString(b))); err != nil {
		return nil, fmt.Errorf("storing secret %s: %w", name, err)
	}
	return b, nil
}

func (s *Store) loadSecret(ctx context.Context, key string) ([]byte, error) {
	raw, err := s.storage.Load(ctx, key)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(string(raw))
	if err != nil || len(b) < minStoredSecret {
		return nil, fmt.Errorf("the secret in storage at %s is damaged: delete it to make a new one", key)
	}
	return b, nil
}

// ExistingSecret returns the named server secret, or fs.ErrNotExist when
// no node has made it.
func (s *Store) ExistingSecret(ctx context.Context, name string) ([]byte, error) {
	return s.loadSecret(ctx, secretsPrefix+name)
}

// DeleteSecret deletes the named server secret; a missing one is no error.
// It is for secrets that expire, such as TLS ticket keys, which must not
// outlive their use.
func (s *Store) DeleteSecret(ctx context.Context, name string) error {
	if err := s.storage.Delete(ctx, secretsPrefix+name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
