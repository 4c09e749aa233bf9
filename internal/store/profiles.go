package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"
)

// ErrProfileNotFound is returned for a profile the store does not hold.
var ErrProfileNotFound = errors.New("profile not found")

// ProfileTargets says which devices a profile is for: every device (All),
// or those carrying any of IncludeAny, minus those carrying any of
// ExcludeAny (exclusion also applies to All).
type ProfileTargets struct {
	All        bool     `json:"all,omitempty"`
	IncludeAny []string `json:"include_any,omitempty"`
	ExcludeAny []string `json:"exclude_any,omitempty"`
}

// ProfileVerify is the optional drift check of a profile: the LocURIs read
// back with Get, at most once per Interval (a Go duration, e.g. "24h").
type ProfileVerify struct {
	LocURIs  []string `json:"locuris"`
	Interval string   `json:"interval,omitempty"`
}

// ProfileSetting is one node a profile sets (an item of a Replace or Add),
// as the admin wrote it (variables not yet filled in).
type ProfileSetting struct {
	LocURI string `json:"locuri"`
	Format string `json:"format,omitempty"`
	Data   string `json:"data,omitempty"`
}

// Profile is a configuration profile as uploaded: the SyncML fragment, its
// commands parsed, the settings they make, and whom it targets.
type Profile struct {
	Name    string         `json:"name"`
	SyncML  string         `json:"syncml"`
	Version string         `json:"version"`
	Targets ProfileTargets `json:"targets"`
	// Retries is how often a failed delivery is tried again.
	Retries int            `json:"retries"`
	Verify  *ProfileVerify `json:"verify,omitempty"`
	// Sensitive marks secret data (Wi-Fi keys, ...): its commands are
	// sensitive (delivered as is, REDACTED in logs and traces) and its
	// SyncML and values never leave the server.
	Sensitive bool `json:"sensitive,omitempty"`
	// Commands are the fragment's top-level commands, one queue entry each.
	Commands []CommandSpec    `json:"commands"`
	Settings []ProfileSetting `json:"settings"`
	Source   string           `json:"source,omitempty"`
	Updated  time.Time        `json:"updated_at"`
}

// ProfileMeta is what a session needs of a profile to decide, without its
// content: the catalog entry.
type ProfileMeta struct {
	Name    string         `json:"name"`
	Version string         `json:"version"`
	Targets ProfileTargets `json:"targets"`
	Retries int            `json:"retries"`
	Verify  *ProfileVerify `json:"verify,omitempty"`
	// LocURIs are the nodes the profile sets (Replace/Add), for removal.
	LocURIs []string  `json:"locuris,omitempty"`
	Source  string    `json:"source,omitempty"`
	Updated time.Time `json:"updated_at"`
	// Sensitive: values are secret (drift reports omit them).
	Sensitive bool `json:"sensitive,omitempty"`
}

// ProfileCatalog lists every profile by name: the one key a session reads
// to know what the fleet's desired state is.
type ProfileCatalog struct {
	Profiles map[string]*ProfileMeta `json:"profiles"`
}

// Profile states of a (device, profile) pair.
const (
	ProfilePending  = "pending"
	ProfileSent     = "sent"
	ProfileApplied  = "applied"
	ProfileFailed   = "failed"
	ProfileDrifted  = "drifted"
	ProfileRemoving = "removing"
	ProfileRemoved  = "removed"
)

// ProfileStates are every state a pair can be in, in display order.
var ProfileStates = []string{ProfilePending, ProfileSent, ProfileApplied, ProfileFailed, ProfileDrifted, ProfileRemoving, ProfileRemoved}

const (
	profileCatalogKey = "mdm/profiles.json"
	profilesPrefix    = "mdm/profiles"
)

func profileDir(name string) string { return profilesPrefix + "/" + name }
func profileKey(name string) string { return profileDir(name) + "/profile.json" }
func profileStatusDir(name, version, state string) string {
	return profileDir(name) + "/status/" + version + "/" + state
}

// ValidProfileName reports whether name may name a profile (and be a key
// segment): 1 to 64 of a-z, 0-9, '.', '_', '-', not starting with '.'.
func ValidProfileName(name string) bool {
	if name == "" || len(name) > 64 || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ProfileCatalog reads the catalog (empty when no profile exists).
func (s *Store) ProfileCatalog(ctx context.Context) (*ProfileCatalog, error) {
	c := &ProfileCatalog{}
	if _, err := s.loadJSON(ctx, profileCatalogKey, c); err != nil {
		return nil, err
	}
	if c.Profiles == nil {
		c.Profiles = map[string]*ProfileMeta{}
	}
	return c, nil
}

// PutProfileCatalog writes the catalog; hold LockProfiles.
func (s *Store) PutProfileCatalog(ctx context.Context, c *ProfileCatalog) error {
	return s.storeJSON(ctx, profileCatalogKey, c)
}

// Profile reads one profile's content.
func (s *Store) Profile(ctx context.Context, name string) (*Profile, error) {
	if !ValidProfileName(name) {
		return nil, ErrProfileNotFound
	}
	p := &Profile{}
	found, err := s.loadJSON(ctx, profileKey(name), p)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrProfileNotFound
	}
	return p, nil
}

// PutProfile writes one profile's content; hold LockProfiles.
func (s *Store) PutProfile(ctx context.Context, p *Profile) error {
	if !ValidProfileName(p.Name) {
		return fmt.Errorf("invalid profile name %q", p.Name)
	}
	return s.storeJSON(ctx, profileKey(p.Name), p)
}

// DeleteProfile removes a profile's content and status markers (the
// catalog entry is the caller's).
func (s *Store) DeleteProfile(ctx context.Context, name string) error {
	return s.deleteTree(ctx, profileDir(name))
}

// DeleteProfileVersionStatus removes the status markers of an old version.
func (s *Store) DeleteProfileVersionStatus(ctx context.Context, name, version string) error {
	return s.deleteTree(ctx, profileDir(name)+"/status/"+version)
}

// deleteTree deletes key and what lies below it: storages that delete
// prefixes (file system, memory) do it in one call; for the others each
// key found is deleted.
func (s *Store) deleteTree(ctx context.Context, key string) error {
	if err := s.storage.Delete(ctx, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	keys, err := s.storage.List(ctx, key, true)
	if err != nil {
		return nil // nothing left to list
	}
	for _, k := range keys {
		if err := s.storage.Delete(ctx, k); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// profilesMu serializes catalog changes in this process; LockProfiles adds
// the storage's lock for the other nodes of a cluster.
var profilesMu sync.Mutex

// LockProfiles serializes changes of the profile catalog across the
// cluster with the storage's lock (admin changes are rare: its polling
// costs nothing that matters there).
func (s *Store) LockProfiles(ctx context.Context) (unlock func(), err error) {
	profilesMu.Lock()
	if err := s.storage.Lock(ctx, profilesPrefix); err != nil {
		profilesMu.Unlock()
		return nil, fmt.Errorf("locking the profile catalog: %w", err)
	}
	return func() {
		_ = s.storage.Unlock(context.WithoutCancel(ctx), profilesPrefix)
		profilesMu.Unlock()
	}, nil
}

// SetProfileStatus moves a device's marker for a profile version from one
// state to another ("" for none). The markers let counts per state and
// lists of devices per state be read with listings, no record read.
func (s *Store) SetProfileStatus(ctx context.Context, name, version, from, to, deviceID string) error {
	if !ValidProfileName(name) || !ValidDeviceID(deviceID) || version == "" {
		return fmt.Errorf("invalid profile status key %q %q %q", name, version, deviceID)
	}
	if to != "" {
		if err := s.storage.Store(ctx, profileStatusDir(name, version, to)+"/"+deviceID, []byte("1")); err != nil {
			return err
		}
	}
	if from != "" && from != to {
		err := s.storage.Delete(ctx, profileStatusDir(name, version, from)+"/"+deviceID)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// ProfileStatusDevices lists the devices whose marker for a profile
// version is in state: one listing, no record read.
func (s *Store) ProfileStatusDevices(ctx context.Context, name, version, state string) ([]string, error) {
	return s.listLeaves(ctx, profileStatusDir(name, version, state))
}

// listLeaves returns the last path segment of the keys below dir.
func (s *Store) listLeaves(ctx context.Context, dir string) ([]string, error) {
	keys, err := s.storage.List(ctx, dir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k[strings.LastIndexByte(k, '/')+1:])
	}
	return out, nil
}

// InactiveDeviceIDs lists the devices the state index holds as unenrolled
// or retired: one recursive listing per state (a single round trip on
// Redis), no record read. A device a crash left indexed under two states
// is listed here too until its next state change (see putDeviceIndexed).
func (s *Store) InactiveDeviceIDs(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	for _, st := range []DeviceState{StateUnenrolled, StateRetired} {
		keys, err := s.storage.List(ctx, stateIndexDir(st), true)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing %s devices: %w", st, unavailable(err))
		}
		for _, k := range keys {
			if id := k[strings.LastIndexByte(k, '/')+1:]; ValidDeviceID(id) {
				out[id] = true
			}
		}
	}
	return out, nil
}

// DeviceIDs lists the IDs of every stored device: one listing of the
// devices directory, no record read.
func (s *Store) DeviceIDs(ctx context.Context) ([]string, error) {
	ids, err := s.listLeaves(ctx, devicesPrefix)
	if err != nil {
		return nil, err
	}
	out := ids[:0]
	for _, id := range ids {
		if ValidDeviceID(id) {
			out = append(out, id)
		}
	}
	return out, nil
}
