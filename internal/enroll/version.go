package enroll

import (
	"fmt"
	"strconv"
	"strings"
)

// version is a "major.minor" protocol version.
type version struct{ major, minor int }

// parseVersion reads a version's major and minor numbers; further numbers
// (a device sending "10.0.1") are allowed and ignored, since a higher
// RequestVersion is answered with the highest this server speaks.
func parseVersion(s string) (version, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) > 4 {
		return version{}, fmt.Errorf("version %q is not major.minor", s)
	}
	var nums [2]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 1000 {
			return version{}, fmt.Errorf("version %q is not major.minor", s)
		}
		if i < 2 {
			nums[i] = n
		}
	}
	return version{nums[0], nums[1]}, nil
}

func (v version) less(w version) bool {
	return v.major < w.major || v.major == w.major && v.minor < w.minor
}

func (v version) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }
