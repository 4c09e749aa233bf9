package profile

import (
	"context"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// An edit from the console form changes content, targets and retries and
// keeps what the form does not show: a sensitive profile stays sensitive
// (its content, never shown, is kept when the field is left empty), its
// drift check and its source stay.
func TestEditKeepsWhatTheFormDoesNotShow(t *testing.T) {
	ctx := context.Background()
	svc := &Service{Store: store.New(store.NewMemory())}
	const secret = `<Replace><CmdID>1</CmdID><Item><Target><LocURI>./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera</LocURI></Target><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>0</Data></Item></Replace>`
	verify := &store.ProfileVerify{LocURIs: []string{"./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera"}, Interval: "24h"}
	orig, _, err := svc.Put(ctx, "cam", PutRequest{SyncML: secret, IncludeAny: []string{"finance"}, Sensitive: true, Verify: verify, Source: "profiles_dir"})
	if err != nil {
		t.Fatal(err)
	}
	got, changed, err := svc.Edit(ctx, "cam", Edit{IncludeAny: []string{"sales"}})
	if err != nil || !changed {
		t.Fatalf("edit of targets: changed=%v err=%v", changed, err)
	}
	if got.SyncML != secret || got.Version != orig.Version || !got.Sensitive || got.Source != "profiles_dir" ||
		got.Verify == nil || got.Verify.Interval != "24h" || got.Retries != orig.Retries {
		t.Errorf("edit lost what the form does not show: %+v", got)
	}
	if len(got.Targets.IncludeAny) != 1 || got.Targets.IncludeAny[0] != "sales" {
		t.Errorf("targets not changed: %+v", got.Targets)
	}
	if r := Redacted(got); r.SyncML == secret {
		t.Error("a sensitive profile is shown")
	}
	// A new content replaces the old one, still sensitive.
	other := `<Replace><CmdID>1</CmdID><Item><Target><LocURI>./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera</LocURI></Target><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>1</Data></Item></Replace>`
	got, _, err = svc.Edit(ctx, "cam", Edit{SyncML: other, IncludeAny: []string{"sales"}})
	if err != nil || got.SyncML != other || got.Version == orig.Version || !got.Sensitive {
		t.Errorf("new content: %+v, %v", got, err)
	}
	// A new profile from the form alone.
	if _, _, err := svc.Edit(ctx, "fresh", Edit{}); err == nil {
		t.Error("a new profile without content was accepted")
	}
}
