package store

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
)

// Caddy's file storage writes a key to a temporary file in the key's
// directory and renames it into place, so a process killed mid-write
// leaves that temporary file behind (never a half-written key). Every key
// of this store ends in .json, and readers only ever read such keys; what
// else lies in the mdm/ tree is such a leftover.

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
	root := fsys.Filename("mdm")
	cutoff := time.Now().Add(-minAge)
	removed := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() || strings.HasSuffix(d.Name(), ".json") || !d.Type().IsRegular() {
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
	return removed, err
}
