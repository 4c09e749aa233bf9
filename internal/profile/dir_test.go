package profile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func writeProfileFile(t *testing.T, dir, name, header, value string) {
	t.Helper()
	body := "<!-- @mdm " + header + " -->\n<Replace><CmdID>1</CmdID><Item><Target><LocURI>" + cam +
		"</LocURI></Target><Meta><Format xmlns=\"syncml:metinf\">int</Format></Meta><Data>" + value + "</Data></Item></Replace>\n"
	if err := os.WriteFile(filepath.Join(dir, name+".xml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLoadDirRefusesConflictingFiles: two files setting one node
// differently for every device fail the load itself (caddy validate, a
// reload), naming the file and the conflict.
func TestLoadDirRefusesConflictingFiles(t *testing.T) {
	dir := t.TempDir()
	writeProfileFile(t, dir, "a", "all", "0")
	writeProfileFile(t, dir, "b", "all", "1")
	if _, err := LoadDir(dir); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflicting files: %v, want a conflict", err)
	}
	writeProfileFile(t, dir, "b", "all", "0")
	if _, err := LoadDir(dir); err != nil {
		t.Fatalf("agreeing files: %v", err)
	}
}

// TestSyncDirWritesNothingOnConflict: a directory whose profile conflicts
// with one made through the API is refused whole: the directory's other
// profiles are not applied, and those it had applied before stay as they
// were.
func TestSyncDirWritesNothingOnConflict(t *testing.T) {
	ctx := context.Background()
	svc, _ := serviceWithDevices(t, "D1")
	if _, _, err := svc.Put(ctx, "api-camera", PutRequest{SyncML: rep(cam, "int", "1"), All: true}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeProfileFile(t, dir, "first", "include_any=finance", "1")
	reqs, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.SyncDir(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	before, err := svc.Store.Profile(ctx, "first")
	if err != nil {
		t.Fatal(err)
	}

	// Edit "first" and add "second", which conflicts with the API's profile.
	writeProfileFile(t, dir, "first", "include_any=finance retries=2", "1")
	writeProfileFile(t, dir, "second", "include_any=kiosk", "0")
	if reqs, err = LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.SyncDir(ctx, reqs); !errors.Is(err, ErrConflict) {
		t.Fatalf("sync with a conflict: %v", err)
	}
	list, err := svc.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		if m.Name == "second" {
			t.Error("the conflicting profile was written")
		}
	}
	if after, err := svc.Store.Profile(ctx, "first"); err != nil {
		t.Fatal(err)
	} else if after.Retries != before.Retries {
		t.Errorf("the failed sync applied first's edit: retries %d → %d", before.Retries, after.Retries)
	}
}
