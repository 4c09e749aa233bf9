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
}

// New returns a store over s.
func New(s certmagic.Storage) *Store { return &Store{storage: s} }

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

func deviceKey(id string) string { return "mdm/devices/" + id + ".json" }

// PutDevice writes a device record in one atomic store.
func (s *Store) PutDevice(ctx context.Context, d *Device) error {
	if !ValidDeviceID(d.DeviceID) {
		return fmt.Errorf("invalid device ID %q", d.DeviceID)
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := s.storage.Store(ctx, deviceKey(d.DeviceID), b); err != nil {
		return fmt.Errorf("storing device %s: %w", d.DeviceID, err)
	}
	return nil
}

// Device reads one device record.
func (s *Store) Device(ctx context.Context, id string) (*Device, error) {
	if !ValidDeviceID(id) {
		return nil, ErrNotFound
	}
	b, err := s.storage.Load(ctx, deviceKey(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading device %s: %w", id, err)
	}
	var d Device
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("device %s: corrupt record: %w", id, err)
	}
	return &d, nil
}
