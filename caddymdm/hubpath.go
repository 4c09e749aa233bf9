package caddymdm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// errHubNotFound reports a request path that names nothing: the file server
// answers it with its own 404, as before.
var errHubNotFound = errors.New("not found")

// checkHubPath decides whether the file server may serve reqPath (a URL
// path, already decoded) from root. Caddy's file server follows symlinks
// wherever they lead; the hub is reachable by every enrolled device, so a
// path is refused when, every symlink resolved, it leaves the resolved root,
// or when it (as requested or as resolved) has a hidden segment, a name
// starting with '.'. Symlinks that stay inside the root keep working. For a
// directory, the index files the file server would serve in its place are
// held to the same rule. It returns errHubNotFound, wrapped, when the path
// names nothing, and another error, the reason, for a refusal.
func checkHubPath(root, reqPath string, indexNames []string) error {
	rel := path.Clean("/" + reqPath)[1:]
	if rel != "" && !filepath.IsLocal(filepath.FromSlash(rel)) {
		return fmt.Errorf("%q is not a local path", rel)
	}
	if hiddenSegment(rel) {
		return errors.New("hidden path segment")
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("root %s: %v", root, err)
	}
	realRoot, err := filepath.EvalSymlinks(absRoot)
	if err != nil {
		return fmt.Errorf("resolving root %s: %v", absRoot, err)
	}
	target := filepath.Join(absRoot, filepath.FromSlash(rel))
	real, err := resolveInside(realRoot, target)
	if err != nil {
		return err
	}
	info, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("%w: %v", errHubNotFound, err)
	}
	if !info.IsDir() {
		return nil
	}
	for _, name := range indexNames {
		index := filepath.Join(target, name)
		if _, err := os.Lstat(index); err != nil {
			continue
		}
		if _, err := resolveInside(realRoot, index); err != nil && !errors.Is(err, errHubNotFound) {
			return fmt.Errorf("index file %s: %v", name, err)
		}
	}
	return nil
}

// resolveInside resolves every symlink of p and returns the real path, or
// an error when it lies outside realRoot or under a hidden name there.
func resolveInside(realRoot, p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w: %v", errHubNotFound, err)
		}
		return "", fmt.Errorf("resolving %s: %v", p, err)
	}
	inside, err := filepath.Rel(realRoot, real)
	if err != nil || !filepath.IsLocal(inside) {
		return "", fmt.Errorf("resolves to %s, outside the root %s", real, realRoot)
	}
	if hiddenSegment(filepath.ToSlash(inside)) {
		return "", fmt.Errorf("resolves to the hidden path %s", real)
	}
	return real, nil
}

// hiddenSegment reports whether a slash-separated relative path has a
// segment starting with '.' ("." itself, the root, is not hidden). On
// Windows a backslash separates too.
func hiddenSegment(rel string) bool {
	if rel == "." {
		return false
	}
	for _, seg := range strings.FieldsFunc(rel, func(r rune) bool { return r == '/' || r == filepath.Separator }) {
		if strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}

// dotfileHide is the file server's own hide list for dotfiles, or nil when
// the root itself lies under a dot directory: the file server matches a
// name without a separator against every segment of the absolute path,
// the root's included, so ".*" would then hide the whole hub (checkHubPath
// still refuses the hidden names below the root).
func dotfileHide(root string) []string {
	if strings.Contains(root, "{") {
		return nil
	}
	abs, err := filepath.Abs(root)
	if err != nil || hiddenSegment(filepath.ToSlash(abs)) {
		return nil
	}
	return []string{".*"}
}
