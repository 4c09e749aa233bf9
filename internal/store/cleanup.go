package store

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/certmagic"
)

// Caddy's file storage writes a key to a temporary file in the key's
// directory (os.CreateTemp with no pattern: a name of decimal digits only)
// and renames it into place, so a process killed mid-write leaves that
// temporary file behind (never a half-written key).
//
// Only the directories whose keys all end in .json are swept: the index,
// label, profile-status and token keys have no extension, and a device ID
// made of digits would look like a temporary file there.
var leftoverDirs = []string{devicesPrefix, "mdm/certificates", "mdm/hardware", "mdm/nodes"}

// RemoveLeftovers deletes the temporary files a killed process left in the
// store's part of a file storage, if older than minAge (a younger one may
// be another process's write in progress). Other storages write keys
// whole and have none. It returns how many it removed; it stops at ctx's
// end.
func (s *Store) RemoveLeftovers(ctx context.Context, minAge time.Duration) (int, error) {
	fsys, ok := s.storage.(*certmagic.FileStorage)
	if !ok {
		return 0, nil
	}
	cutoff := time.Now().Add(-minAge)
	removed := 0
	for _, dir := range leftoverDirs {
		err := filepath.WalkDir(fsys.Filename(dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if d.IsDir() || !d.Type().IsRegular() || !temporaryName(d.Name()) {
				return nil
			}
			info, err := d.Info()
			if err != nil || info.ModTime().After(cutoff) {
				return nil
			}
			if err := os.Remove(path); err == nil {
				removed++
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// temporaryName reports whether a file name is one os.CreateTemp gives
// with no pattern: decimal digits only.
func temporaryName(name string) bool {
	if name == "" || len(name) > 20 {
		return false
	}
	for _, c := range name {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
