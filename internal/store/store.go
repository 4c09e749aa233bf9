package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/caddyserver/certmagic"
)

// ErrNotFound is returned for a device the store does not hold.
var ErrNotFound = errors.New("device not found")

// Store reads and writes caddy-mdm state in a certmagic.Storage.
type Store struct {
	storage certmagic.Storage
	locks   deviceLocks
}

// New returns a store over s.
func New(s certmagic.Storage) *Store {
	return &Store{storage: s, locks: deviceLocks{held: map[string]*deviceLock{}}}
}

// maxDeviceID bounds device IDs; Windows sends 32 hex digits, Windows Phone
// a little more.
const maxDeviceID = 128

// ValidDeviceID reports whether id may be stored: 1 to 128 characters of
// letters, digits, '-', '_', '.', '{' and '}', not starting with '.'.
func ValidDeviceID(id string) bool {
	if id == "" || len(id) > maxDeviceID || id[0] == '.' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == '{' || c == '}':
		default:
			return false
		}
	}
	return true
}

const devicesPrefix = "mdm/devices"

func deviceDir(id string) string { return devicesPrefix + "/" + id }
func deviceKey(id string) string { return deviceDir(id) + "/record.json" }

// PutDevice writes a device record in one atomic store.
func (s *Store) PutDevice(ctx context.Context, d *Device) error {
	if !ValidDeviceID(d.DeviceID) {
		return fmt.Errorf("invalid device ID %q", d.DeviceID)
	}
	return s.storeJSON(ctx, deviceKey(d.DeviceID), d)
}

// Device reads one device record.
func (s *Store) Device(ctx context.Context, id string) (*Device, error) {
	if !ValidDeviceID(id) {
		return nil, ErrNotFound
	}
	var d Device
	found, err := s.loadJSON(ctx, deviceKey(id), &d)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", id, err)
	}
	if !found {
		return nil, ErrNotFound
	}
	return &d, nil
}

// loadJSON reads key into v; found is false when the key does not exist.
func (s *Store) loadJSON(ctx context.Context, key string, v any) (found bool, err error) {
	b, err := s.storage.Load(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("loading %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("corrupt %s: %w", key, err)
	}
	return true, nil
}

// storeJSON writes v under key in one atomic store.
func (s *Store) storeJSON(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := s.storage.Store(ctx, key, b); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return nil
}
