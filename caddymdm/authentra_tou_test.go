package caddymdm

import (
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// TestTermsOfUseSecretStored: without a configured secret, two loads over
// the same storage (a reload, another node) seal with the same secret, so
// an OpaqueBlob handed out before a reload is still accepted after it; a
// load over other storage does not accept it.
func TestTermsOfUseSecretStored(t *testing.T) {
	shared := store.NewMemory()
	cfg := func() *TermsOfUseConfig { return &TermsOfUseConfig{Text: "Terms."} }
	first, _, err := cfg().build(shared)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := cfg().build(shared)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := first.Mint("72f988bf-86f1-41af-91ab-2d7cd011db47", "oid-1", "n")
	if err != nil {
		t.Fatal(err)
	}
	if err := second.CheckAcceptance(blob, "72f988bf-86f1-41af-91ab-2d7cd011db47", "oid-1"); err != nil {
		t.Errorf("an OpaqueBlob from before the reload is refused: %v", err)
	}
	other, _, err := cfg().build(store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	if other.CheckAcceptance(blob, "72f988bf-86f1-41af-91ab-2d7cd011db47", "oid-1") == nil {
		t.Error("another storage's secret accepts the blob")
	}
	if _, _, err := cfg().build(nil); err == nil {
		t.Error("no secret and no storage accepted")
	}
	// A configured secret still wins.
	a, _, err := (&TermsOfUseConfig{Text: "T", Secret: "0123456789abcdef0123456789abcdef"}).build(shared)
	if err != nil {
		t.Fatal(err)
	}
	if a.CheckAcceptance(blob, "72f988bf-86f1-41af-91ab-2d7cd011db47", "oid-1") == nil {
		t.Error("the configured secret is not used")
	}
}
