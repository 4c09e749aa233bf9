package profile

import (
	"encoding/xml"
	"strings"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// Variables are filled in per device at delivery. The syntax {{.Name}} is
// Go template style, but nothing is executed: exactly these four tokens are
// replaced by plain substitution. It cannot collide with SyncML or CSP
// data: "{{" never occurs in LocURIs, and any other "{{" in a profile is
// refused at upload, so no data is ever mistaken for a variable and a
// typo ({{.DeviceId}}) is an error, not a literal sent to the device.
var Variables = []string{"{{.DeviceID}}", "{{.HWDevID}}", "{{.User}}", "{{.DeviceName}}"}

func checkVariables(s string) error {
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			return nil
		}
		s = s[i:]
		matched := ""
		for _, v := range Variables {
			if strings.HasPrefix(s, v) {
				matched = v
			}
		}
		if matched == "" {
			tok := s
			if end := strings.Index(s, "}}"); end >= 0 {
				tok = s[:end+2]
			}
			return invalid("unknown variable %q: the variables are %s (no other {{ is allowed)", clip(tok), strings.Join(Variables, ", "))
		}
		s = s[len(matched):]
	}
}

// DeviceVars are the values of the variables for one device.
type DeviceVars struct {
	DeviceID, HWDevID, User, DeviceName string
}

// VarsOf takes the variables from a device record.
func VarsOf(d *store.Device) DeviceVars {
	return DeviceVars{DeviceID: d.DeviceID, HWDevID: d.HWDevID, User: d.User, DeviceName: d.DeviceName}
}

// Substitute fills the variables into s. With xmlData (an item whose data
// is an XML fragment, written unescaped) the values are XML-escaped, so a
// user name holding '<' or '&' cannot change the fragment's structure;
// other data is escaped when the message is written.
func (v DeviceVars) Substitute(s string, xmlData bool) string {
	if !strings.Contains(s, "{{.") {
		return s
	}
	esc := func(x string) string {
		if !xmlData {
			return x
		}
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(x))
		return b.String()
	}
	return strings.NewReplacer(
		"{{.DeviceID}}", esc(v.DeviceID),
		"{{.HWDevID}}", esc(v.HWDevID),
		"{{.User}}", esc(v.User),
		"{{.DeviceName}}", esc(v.DeviceName),
	).Replace(s)
}

// Commands returns a profile's commands for one device, variables filled in.
func (v DeviceVars) Commands(specs []store.CommandSpec) []store.CommandSpec {
	out := make([]store.CommandSpec, len(specs))
	for i, s := range specs {
		out[i] = v.spec(s)
	}
	return out
}

func (v DeviceVars) spec(s store.CommandSpec) store.CommandSpec {
	c := s
	c.Items = make([]store.ItemSpec, len(s.Items))
	for i, it := range s.Items {
		it.Target = v.Substitute(it.Target, false)
		it.Data = v.Substitute(it.Data, it.DataXML)
		c.Items[i] = it
	}
	if len(s.Commands) > 0 {
		c.Commands = v.Commands(s.Commands)
	}
	return c
}
