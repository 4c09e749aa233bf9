package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// DeviceLabels are a device's labels: those an admin set, and those the
// server derives from what it knows (enrollment type, OS, wp8).
type DeviceLabels struct {
	Admin   []string  `json:"admin,omitempty"`
	Auto    []string  `json:"auto,omitempty"`
	Updated time.Time `json:"updated_at"`
}

// All returns the admin and automatic labels as a set.
func (l *DeviceLabels) All() map[string]bool {
	out := make(map[string]bool, len(l.Admin)+len(l.Auto))
	for _, x := range l.Admin {
		out[x] = true
	}
	for _, x := range l.Auto {
		out[x] = true
	}
	return out
}

const labelsPrefix = "mdm/labels"

func deviceLabelsKey(id string) string { return deviceDir(id) + "/labels.json" }

// labelSegment turns a label into a key segment: ':' (of os:10.0.19043)
// becomes '~', which labels never hold.
func labelSegment(label string) string { return strings.ReplaceAll(label, ":", "~") }

// ValidLabel reports whether a label may be stored: 1 to 64 of a-z, 0-9,
// '.', '_', '-' and ':', not starting with '.'.
func ValidLabel(label string) bool {
	if label == "" || len(label) > 64 || label[0] == '.' {
		return false
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == ':') {
			return false
		}
	}
	return true
}

// DeviceLabels reads a device's labels (empty when none).
func (s *Store) DeviceLabels(ctx context.Context, id string) (*DeviceLabels, error) {
	l := &DeviceLabels{}
	if _, err := s.loadJSON(ctx, deviceLabelsKey(id), l); err != nil {
		return nil, err
	}
	return l, nil
}

// PutDeviceLabels writes a device's labels; hold LockDevice. The label
// index is the caller's (IndexLabel, UnindexLabel), written after.
func (s *Store) PutDeviceLabels(ctx context.Context, id string, l *DeviceLabels) error {
	return s.storeJSON(ctx, deviceLabelsKey(id), l)
}

// IndexLabel records that a device carries a label: one small key per
// (label, device), so the devices of a label are one listing away.
func (s *Store) IndexLabel(ctx context.Context, label, id string) error {
	if !ValidLabel(label) || !ValidDeviceID(id) {
		return fmt.Errorf("invalid label index entry %q %q", label, id)
	}
	return s.storage.Store(ctx, labelsPrefix+"/"+labelSegment(label)+"/"+id, []byte("1"))
}

// UnindexLabel removes a (label, device) index entry.
func (s *Store) UnindexLabel(ctx context.Context, label, id string) error {
	if !ValidLabel(label) || !ValidDeviceID(id) {
		return nil
	}
	err := s.storage.Delete(ctx, labelsPrefix+"/"+labelSegment(label)+"/"+id)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// LabelDevices lists the devices carrying a label: one listing.
func (s *Store) LabelDevices(ctx context.Context, label string) ([]string, error) {
	if !ValidLabel(label) {
		return nil, nil
	}
	return s.listLeaves(ctx, labelsPrefix+"/"+labelSegment(label))
}
