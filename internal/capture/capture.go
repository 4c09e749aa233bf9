// Package capture gives tests the requests captured from real Windows 10
// devices (testdata/windows10-19043 at the module root). A test
// that cannot find them fails: a server proven only on its own requests has
// proven nothing.
package capture

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// EnvDir names an environment variable that overrides where the captures are.
const EnvDir = "MDM_CAPTURES_DIR"

// Dir returns the captures directory: $MDM_CAPTURES_DIR, or
// testdata/windows10-19043 at the module root.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			dir := filepath.Join(d, "testdata", "windows10-19043")
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("real device captures not found at %s (set %s): %v", dir, EnvDir, err)
			}
			return dir
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", wd)
		}
	}
}

// Read returns one capture file, e.g. "a-enroll-request.xml".
func Read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var bstPKCS10 = regexp.MustCompile(`ValueType="[^"]*#PKCS10"[^>]*>([^<]+)<`)

// CSR returns the DER PKCS#10 request carried by an enrollment capture.
func CSR(t testing.TB, name string) []byte {
	t.Helper()
	m := bstPKCS10.FindSubmatch(Read(t, name))
	if m == nil {
		t.Fatalf("%s holds no PKCS#10 BinarySecurityToken", name)
	}
	der, err := base64.StdEncoding.DecodeString(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return der
}
