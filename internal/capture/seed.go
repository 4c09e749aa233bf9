package capture

import (
	"path/filepath"
	"sort"
	"testing"
)

// MaxFuzzInput bounds what a fuzz target feeds its parser: larger inputs
// are skipped. Real device requests are a few KiB, and the servers refuse
// bodies far below this.
const MaxFuzzInput = 1 << 20

// Names returns the names of the captures matching a glob pattern (e.g.
// "*-syncml-*.xml"), sorted. A pattern matching nothing fails the test:
// a fuzz target seeded from no capture would prove less than it claims.
func Names(t testing.TB, pattern string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(Dir(t), pattern))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no capture matches %q in %s", pattern, Dir(t))
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	sort.Strings(names)
	return names
}

// Seed adds every capture matching the patterns to f's corpus, as bytes.
func Seed(f *testing.F, patterns ...string) {
	f.Helper()
	for _, p := range patterns {
		for _, name := range Names(f, p) {
			f.Add(Read(f, name))
		}
	}
}

// SeedCSRs adds the DER PKCS#10 request of every enrollment capture
// (*-enroll-request.xml) to f's corpus.
func SeedCSRs(f *testing.F) {
	f.Helper()
	for _, name := range Names(f, "*-enroll-request.xml") {
		f.Add(CSR(f, name))
	}
}
