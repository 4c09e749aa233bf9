package omadm

import (
	"context"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

func TestTargetsUser(t *testing.T) {
	item := func(target string) store.CommandSpec {
		return store.CommandSpec{Verb: "Replace", Items: []store.ItemSpec{{Target: target}}}
	}
	for target, want := range map[string]bool{
		"./User/Vendor/MSFT/Policy/Config/Start/HideSleep":      true,
		"./user/Vendor/MSFT/Policy/Config/Start/HideSleep":      true,
		"./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera": false,
		"./Vendor/MSFT/DMClient/Provider/caddy-mdm/EntDMID":     false,
		"./DevDetail/SwV": false,
		"./User":          false,
	} {
		spec := item(target)
		if got := targetsUser(&spec); got != want {
			t.Errorf("%s: %v, want %v", target, got, want)
		}
	}
	atomic := store.CommandSpec{Verb: "Atomic", Commands: []store.CommandSpec{item("./Device/A"), item("./User/B")}}
	if !targetsUser(&atomic) {
		t.Error("an Atomic holding a ./User/ command does not target the user")
	}
}

type fakeUserTokens struct{ user, tenant string }

func (f fakeUserTokens) VerifyUserToken(context.Context, string) (string, string, error) {
	return f.user, f.tenant, nil
}

// A verified user token of another tenant than the one the device joined
// (possible when several tenants are configured) names no user.
func TestAADUserTokenOfAnotherTenant(t *testing.T) {
	for _, tc := range []struct {
		tokenTenant string
		wantUser    string
	}{
		{"11111111-1111-1111-1111-111111111111", "ada@contoso.com"},
		{"22222222-2222-2222-2222-222222222222", ""},
	} {
		x := &exchange{
			s:    &Server{UserTokens: fakeUserTokens{"ada@contoso.com", tc.tokenTenant}},
			dev:  &store.Device{DeviceID: "D", EnrollmentType: store.EnrollmentDevice, EntraTenantID: "11111111-1111-1111-1111-111111111111"},
			sess: &store.Session{},
			inv:  &store.Inventory{},
			ctx:  context.Background(),
		}
		x.applyAADUserToken("eyJhbGciOiJSUzI1NiJ9.e30.sig")
		if x.sess.EntraUser != tc.wantUser {
			t.Errorf("token of tenant %s: user %q, want %q (notes %v)", tc.tokenTenant, x.sess.EntraUser, tc.wantUser, x.report.Notes)
		}
	}
}
