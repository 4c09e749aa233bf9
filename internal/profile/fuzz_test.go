package profile

import (
	"errors"
	"testing"
)

// FuzzValidate feeds arbitrary fragments and profile-file headers to the
// upload checks: they either refuse with ErrInvalid or give commands that
// are within the bounds, never panic.
func FuzzValidate(f *testing.F) {
	f.Add(rep(cam, "int", "0"))
	f.Add(`<Atomic><CmdID>1</CmdID>` + rep(cam, "int", "{{.DeviceID}}") + `</Atomic>`)
	f.Add(`<!-- @mdm include_any=a,b retries=2 -->` + rep("./User/Vendor/MSFT/X", "xml", "<a/>"))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Validate(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
		} else if len(p.Commands) == 0 || len(p.Commands) > MaxCommands {
			t.Fatalf("%d commands accepted", len(p.Commands))
		}
		_, _ = ParseHeader(s)
	})
}
