package profile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// SourceDir marks profiles loaded from a profiles_dir.
const SourceDir = "profiles_dir"

// MaxDirFiles bounds the profiles a profiles_dir may hold.
const MaxDirFiles = MaxProfiles

// A profiles_dir holds one profile per <name>.xml file: the SyncML fragment
// as anywhere else, and its targets in an XML comment line starting with
// @mdm (comments are part of SyncML, so the file stays valid XML, and the
// targets travel with the settings in one file under version control):
//
//	<!-- Camera off for finance laptops.
//	     @mdm include_any=finance exclude_any=kiosk retries=3 -->
//	<Replace>...</Replace>
//
// Fields: all, include_any=<l1,l2>, exclude_any=<l1,l2>, retries=<n>,
// verify=<locuri1,locuri2>, verify_interval=<duration>, sensitive. Several @mdm lines
// add up.

// ParseHeader reads the @mdm lines of a profile file into a request.
func ParseHeader(content string) (PutRequest, error) {
	req := PutRequest{SyncML: content, Source: SourceDir}
	found := false
	rest := content
	for {
		i := strings.Index(rest, "<!--")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i+4:], "-->")
		if j < 0 {
			return req, invalid("an XML comment is not closed")
		}
		comment := rest[i+4 : i+4+j]
		rest = rest[i+4+j+3:]
		for _, line := range strings.Split(comment, "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "@mdm") {
				continue
			}
			found = true
			for _, f := range strings.Fields(strings.TrimPrefix(line, "@mdm")) {
				if err := headerField(&req, f); err != nil {
					return req, err
				}
			}
		}
	}
	if !found {
		return req, invalid("no targets: add a comment line such as <!-- @mdm include_any=finance --> or <!-- @mdm all -->")
	}
	return req, nil
}

func headerField(req *PutRequest, f string) error {
	key, val, _ := strings.Cut(f, "=")
	list := func() []string {
		var out []string
		for _, v := range strings.Split(val, ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	switch key {
	case "all":
		req.All = true
	case "include_any":
		req.IncludeAny = append(req.IncludeAny, list()...)
	case "exclude_any":
		req.ExcludeAny = append(req.ExcludeAny, list()...)
	case "retries":
		n, err := strconv.Atoi(val)
		if err != nil {
			return invalid("@mdm retries=%q is not a number", clip(val))
		}
		req.Retries = &n
	case "verify":
		if req.Verify == nil {
			req.Verify = new(store.ProfileVerify)
		}
		req.Verify.LocURIs = append(req.Verify.LocURIs, list()...)
	case "sensitive":
		req.Sensitive = true
	case "verify_interval":
		if req.Verify == nil {
			req.Verify = new(store.ProfileVerify)
		}
		req.Verify.Interval = val
	default:
		return invalid("@mdm field %q: want all, include_any=, exclude_any=, retries=, verify=, verify_interval=, sensitive", clip(key))
	}
	return nil
}

// LoadDir reads and validates every *.xml of a profiles_dir, by profile
// name (the file name without .xml). An error names the file and what to
// fix; nothing is applied until every file is valid.
func LoadDir(dir string) (map[string]PutRequest, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("profiles_dir: %w", err)
	}
	if len(files) > MaxDirFiles {
		return nil, fmt.Errorf("profiles_dir %s holds %d profiles, over %d", dir, len(files), MaxDirFiles)
	}
	sort.Strings(files)
	out := map[string]PutRequest{}
	var prepared []*store.Profile
	now := time.Now()
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".xml")
		st, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		if st.Size() > MaxSyncMLSize {
			return nil, fmt.Errorf("profile file %s: %d bytes, over %d", f, st.Size(), MaxSyncMLSize)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		req, err := ParseHeader(string(b))
		var p *store.Profile
		if err == nil {
			p, err = Prepare(name, req, now)
		}
		if err != nil {
			return nil, fmt.Errorf("profile file %s: %w", f, err)
		}
		out[name] = req
		prepared = append(prepared, p)
	}
	// Two files setting one node differently for devices both may target
	// can never load: say so now (caddy validate, a reload), not after
	// the first has been applied. Conflicts that depend on the devices'
	// labels, or on profiles made through the API, are checked against
	// the store before SyncDir writes anything.
	for _, p := range prepared {
		if c := Conflict(p, prepared); c != nil {
			return nil, fmt.Errorf("profile file %s: %w", filepath.Join(dir, p.Name+".xml"), c)
		}
	}
	return out, nil
}

// SyncDir makes the store's profiles_dir profiles what the directory
// holds: each file's profile is put (unchanged ones cost one read), and
// profiles an earlier load made from files since removed are deleted.
// Profiles made through the API are left alone, unless a file has the
// same name: the directory wins.
func (s *Service) SyncDir(ctx context.Context, reqs map[string]PutRequest) (changed, deleted []string, err error) {
	names := make([]string, 0, len(reqs))
	for n := range reqs {
		names = append(names, n)
	}
	sort.Strings(names)
	if err := s.checkDir(ctx, reqs, names); err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		_, ch, err := s.Put(ctx, n, reqs[n])
		if err != nil {
			return changed, deleted, fmt.Errorf("profile %s: %w", n, err)
		}
		if ch {
			changed = append(changed, n)
		}
	}
	list, err := s.List(ctx)
	if err != nil {
		return changed, deleted, err
	}
	for _, m := range list {
		if _, ok := reqs[m.Name]; !ok && m.Source == SourceDir {
			if err := s.Delete(ctx, m.Name); err != nil {
				return changed, deleted, err
			}
			deleted = append(deleted, m.Name)
		}
	}
	return changed, deleted, nil
}

// checkDir refuses, before anything is written, a directory whose profiles
// conflict with the profiles that stay (made through the API), or with
// each other through the devices' labels: SyncDir writes file by file, and
// a conflict found at the second file would leave the first applied
// although the load failed.
func (s *Service) checkDir(ctx context.Context, reqs map[string]PutRequest, names []string) error {
	now := s.now()
	dir := make(map[string]*store.Profile, len(names))
	after := make([]*store.Profile, 0, len(names))
	for _, n := range names {
		p, err := Prepare(n, reqs[n], now)
		if err != nil {
			return fmt.Errorf("profile %s: %w", n, err)
		}
		dir[n] = p
		after = append(after, p)
	}
	list, err := s.List(ctx)
	if err != nil {
		return err
	}
	for _, m := range list {
		if dir[m.Name] != nil || m.Source == SourceDir {
			continue // replaced by its file, or deleted with it
		}
		o, err := s.Store.Profile(ctx, m.Name)
		if errors.Is(err, store.ErrProfileNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		after = append(after, o)
	}
	if len(after) > MaxProfiles {
		return invalid("the directory's %d profiles and %d made through the API are over %d", len(names), len(after)-len(names), MaxProfiles)
	}
	for _, n := range names {
		if c := Conflict(dir[n], after); c != nil {
			return fmt.Errorf("profile %s: %w", n, c)
		}
		c, err := s.conflictsByLabels(ctx, dir[n], after)
		if err != nil {
			return err
		}
		if c != nil {
			return fmt.Errorf("profile %s: %w", n, c)
		}
	}
	return nil
}

// DirDigest is a digest of a profiles_dir's files (names and contents),
// "" when the directory cannot be read. Caddy skips a reload whose config
// is unchanged, and the files are not part of the config: the Caddyfile
// adapter puts this digest in it, so that an edited, added or removed file
// makes `caddy reload` reload.
func DirDigest(dir string) string {
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil || len(files) > MaxDirFiles {
		return ""
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return ""
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), st.Size())
		if st.Size() <= MaxSyncMLSize {
			b, err := os.ReadFile(f)
			if err != nil {
				return ""
			}
			sum := sha256.Sum256(b)
			h.Write(sum[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
