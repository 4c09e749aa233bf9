package xmltree

import (
	"os"
	"path/filepath"
	"testing"
)

// captured is one file of the real device captures.
type captured struct {
	name string // base name, e.g. a-enroll-request.xml
	data []byte
}

// captures reads the device captures whose names match pattern (e.g.
// "*-request.xml": the SOAP requests); none found fails the test.
func captures(tb testing.TB, pattern string) []captured {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("../../testdata/windows10-19043", pattern))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no capture matches %s (%v)", pattern, err)
	}
	out := make([]captured, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, captured{name: filepath.Base(f), data: b})
	}
	return out
}
