package enroll

import (
	"fmt"
	"strconv"
	"strings"
)

// version is a "major.minor" protocol version.
type version struct{ major, minor int }

func parseVersion(s string) (version, error) {
	maj, min, _ := strings.Cut(strings.TrimSpace(s), ".")
	a, err := strconv.Atoi(maj)
	if err != nil || a < 0 || a > 1000 {
		return version{}, fmt.Errorf("version %q is not major.minor", s)
	}
	b := 0
	if min != "" {
		if b, err = strconv.Atoi(min); err != nil || b < 0 || b > 1000 {
			return version{}, fmt.Errorf("version %q is not major.minor", s)
		}
	}
	return version{a, b}, nil
}

func (v version) less(w version) bool {
	return v.major < w.major || v.major == w.major && v.minor < w.minor
}

func (v version) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }
