package profile

import (
	"sort"
	"strings"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// Automatic labels the server derives from what it knows of a device.
const (
	LabelDevice = "device" // enrolled as the device (EnrollmentType Device)
	LabelUser   = "user"   // enrolled as a user's account (Full)
	LabelWP8    = "wp8"    // a Windows Phone 8
	// LabelOSPrefix starts os:<major.minor.build>.
	LabelOSPrefix = "os:"
)

// AutoLabels are the labels a device carries without an admin: its
// enrollment type (device or user), os:<major.minor.build> of the version
// it reported, and wp8 for a Windows Phone 8.
func AutoLabels(d *store.Device) []string {
	var out []string
	switch d.EnrollmentType {
	case store.EnrollmentDevice:
		out = append(out, LabelDevice)
	case store.EnrollmentFull:
		out = append(out, LabelUser)
	}
	if v := osLabel(d.OSVersion); v != "" {
		out = append(out, v)
	}
	if d.WindowsPhone8 {
		out = append(out, LabelWP8)
	}
	return out
}

// osLabel is os:<major.minor.build> of a version such as 10.0.19043.1288.
func osLabel(v string) string {
	parts := strings.Split(strings.TrimSpace(v), ".")
	if len(parts) < 3 {
		return ""
	}
	l := LabelOSPrefix + strings.ToLower(strings.Join(parts[:3], "."))
	if !store.ValidLabel(l) {
		return ""
	}
	return l
}

// reservedLabels cannot be set by an admin: the server sets them.
func reservedLabel(l string) bool {
	return l == LabelDevice || l == LabelUser || l == LabelWP8 || strings.HasPrefix(l, LabelOSPrefix)
}

// NormalizeLabel lower-cases a label and checks it; admin reports whether
// an admin may set it (not an automatic one).
func NormalizeLabel(l string, admin bool) (string, error) {
	l = strings.ToLower(strings.TrimSpace(l))
	if !store.ValidLabel(l) {
		return "", invalidLabel("%q: use 1 to 64 of a-z, 0-9, '.', '_', '-' (and ':' in os:<version>)", clip(l))
	}
	if admin && (reservedLabel(l) || strings.Contains(l, ":")) {
		return "", invalidLabel("%q is set by the server (device, user, wp8, os:<version>): choose another name", l)
	}
	return l, nil
}

// Match reports whether a device carrying labels is targeted.
func Match(t store.ProfileTargets, labels map[string]bool) bool {
	for _, l := range t.ExcludeAny {
		if labels[l] {
			return false
		}
	}
	if t.All {
		return true
	}
	for _, l := range t.IncludeAny {
		if labels[l] {
			return true
		}
	}
	return false
}

// family groups labels a device carries at most one of.
func family(l string) string {
	switch {
	case l == LabelDevice || l == LabelUser:
		return "enrollment"
	case strings.HasPrefix(l, LabelOSPrefix):
		return "os"
	}
	return ""
}

// MayOverlap reports whether some device could be targeted by both a and
// b, now or after a label change: labels can be added to any device at
// any time, so two profiles are disjoint only when exclusion or exclusive
// automatic labels (device/user, one os: version) make them so.
func MayOverlap(a, b store.ProfileTargets) bool {
	return !excludedBy(a, b) && !excludedBy(b, a) && !exclusive(a, b)
}

// ByAdminLabelsOnly reports whether a and b, though they may overlap, do so
// only through a device carrying admin labels of both: neither targets
// all, they include no label in common, and neither includes or excludes
// an automatic label. Which devices such profiles share changes only when
// an admin changes a device's labels, so they conflict only while a device
// carries both (checked at upload and at every label change) rather than
// by construction.
func ByAdminLabelsOnly(a, b store.ProfileTargets) bool {
	return !a.All && !b.All && adminLabelsOnly(a) && adminLabelsOnly(b) && !shareInclude(a, b)
}

// shareInclude: a and b include a common label.
func shareInclude(a, b store.ProfileTargets) bool {
	inA := set(a.IncludeAny)
	for _, l := range b.IncludeAny {
		if inA[l] {
			return true
		}
	}
	return false
}

func adminLabelsOnly(t store.ProfileTargets) bool {
	for _, l := range append(append([]string(nil), t.IncludeAny...), t.ExcludeAny...) {
		if reservedLabel(l) {
			return false
		}
	}
	return true
}

// excludedBy: every device a targets carries a label b excludes.
func excludedBy(a, b store.ProfileTargets) bool {
	if a.All {
		return false
	}
	ex := set(b.ExcludeAny)
	for _, l := range a.IncludeAny {
		if !ex[l] {
			return false
		}
	}
	return true // also when a includes nothing: it targets no device
}

// exclusive: both include only labels of one exclusive family, none shared.
func exclusive(a, b store.ProfileTargets) bool {
	if a.All || b.All || len(a.IncludeAny) == 0 || len(b.IncludeAny) == 0 {
		return false
	}
	fam := family(a.IncludeAny[0])
	if fam == "" {
		return false
	}
	for _, l := range append(append([]string(nil), a.IncludeAny...), b.IncludeAny...) {
		if family(l) != fam {
			return false
		}
	}
	return !shareInclude(a, b)
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// NormalizeTargets lower-cases, checks, sorts and de-duplicates labels.
func NormalizeTargets(t store.ProfileTargets) (store.ProfileTargets, error) {
	norm := func(ls []string) ([]string, error) {
		seen := map[string]bool{}
		var out []string
		for _, l := range ls {
			n, err := NormalizeLabel(l, false)
			if err != nil {
				return nil, err
			}
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
		sort.Strings(out)
		return out, nil
	}
	var err error
	out := store.ProfileTargets{All: t.All}
	if out.IncludeAny, err = norm(t.IncludeAny); err != nil {
		return out, err
	}
	if out.ExcludeAny, err = norm(t.ExcludeAny); err != nil {
		return out, err
	}
	if len(out.IncludeAny) > 100 || len(out.ExcludeAny) > 100 {
		return out, invalid("more than 100 labels in include_any or exclude_any")
	}
	if !out.All && len(out.IncludeAny) == 0 {
		return out, invalid("no target: set all, or give include_any labels")
	}
	if out.All && len(out.IncludeAny) > 0 {
		return out, invalid("all and include_any together: give one of them")
	}
	return out, nil
}
