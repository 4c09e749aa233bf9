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
	// distributed: device locks also take the storage's Lock (see locks.go).
	distributed bool
	// counter counts index keys without listing them, when the storage can.
	counter KeyCounter
}

// New returns a store over s. Device locks span every node sharing s unless
// s is Caddy's file system storage (see SetDistributedLocks); a storage
// that also implements KeyCounter counts devices by state without listing
// them.
func New(s certmagic.Storage) *Store {
	_, file := s.(*certmagic.FileStorage)
	st := &Store{storage: s, locks: deviceLocks{held: map[string]*deviceLock{}}, distributed: !file}
	st.counter, _ = s.(KeyCounter)
	return st
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
	return s.putDeviceIndexed(ctx, d)
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
	d.indexed = d.State
	return &d, nil
}

// loadJSON reads key into v; found is false when the key does not exist.
func (s *Store) loadJSON(ctx context.Context, key string, v any) (found bool, err error) {
	b, err := s.storage.Load(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("loading %s: %w", key, unavailable(err))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("corrupt %s: %w", key, err)
	}
	return true, nil
}

func jsonBytes(v any) ([]byte, error) { return json.Marshal(v) }

// storeJSON writes v under key in one atomic store.
func (s *Store) storeJSON(ctx context.Context, key string, v any) error {
	b, err := jsonBytes(v)
	if err != nil {
		return err
	}
	if err := s.storage.Store(ctx, key, b); err != nil {
		return fmt.Errorf("storing %s: %w", key, unavailable(err))
	}
	return nil
}
