package caddymdm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddy-mdm/caddy-mdm/internal/entra/entratest"
)

const entraSite = `
enterpriseenrollment.contoso.com {
	tls internal
	mdm
}
`

func entraGlobal(block string) string {
	return "{\n\tmdm {\n\t\tauth entra {\n" + block + "\n\t\t}\n\t}\n}\n" + entraSite
}

// TestEntraCaddyfile: the block adapts to the documented JSON, provisions,
// and the mdm directive mounts the terms page.
func TestEntraCaddyfile(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(keys, entratest.JWKS(entratest.NewKey("k")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := adaptSnippet(t, entraGlobal(`
			tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 8a3c1b2d-4e5f-4a6b-9c7d-0e1f2a3b4c5d
			client_id 5b2e8c4d-1a7f-4d3e-8b6c-9e0a2f4d7c13
			audience https://enterpriseenrollment.contoso.com
			jwks_file `+keys+`
			clock_skew 1m
			terms_of_use {
				text "Contoso manages this PC."
				secret 0123456789abcdef0123456789abcdef
				blob_validity 10m
			}`))
	apps := cfg["apps"].(map[string]any)
	auth := apps["mdm"].(map[string]any)["auth"].(map[string]any)
	e := auth["entra"].(map[string]any)
	if auth["policy"] != "entra" || len(e["tenants"].([]any)) != 2 || e["client_id"] != "5b2e8c4d-1a7f-4d3e-8b6c-9e0a2f4d7c13" ||
		e["jwks_file"] != keys || e["terms_of_use"].(map[string]any)["text"] != "Contoso manages this PC." {
		t.Fatalf("auth %v", auth)
	}
	got := map[string]string{}
	handlersByPath(apps["http"], "", got)
	if got["mdm_terms_of_use"] != TermsOfUsePath {
		t.Errorf("mdm_terms_of_use on %q", got["mdm_terms_of_use"])
	}
	if err := validate(t, cfg); err != nil {
		t.Fatalf("does not provision: %v", err)
	}
}

// TestEntraExampleValidates: the example provisions (the terms secret from
// the environment, the keys from Microsoft at the first token).
func TestEntraExampleValidates(t *testing.T) {
	t.Setenv("MDM_TOU_SECRET", strings.Repeat("ab", 32))
	cfg := adapt(t, examples(t)["entra.Caddyfile"])
	if err := validate(t, cfg); err != nil {
		t.Fatalf("entra example does not provision: %v", err)
	}
}

func TestEntraConfigErrors(t *testing.T) {
	for name, c := range map[string]struct{ block, want string }{
		"tenant name":     {"tenant contoso.onmicrosoft.com\nclient_id 5b2e8c4d-1a7f-4d3e-8b6c-9e0a2f4d7c13", "not a tenant ID"},
		"unknown option":  {"tenant 72f988bf-86f1-41af-91ab-2d7cd011db47\nsecret x", "unknown option"},
		"terms with none": {"tenant 72f988bf-86f1-41af-91ab-2d7cd011db47\nterms_of_use {\n}", "needs text or file"},
	} {
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(entraGlobal(c.block)), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	for name, c := range map[string]struct{ block, want string }{
		"no tenant":        {"client_id 5b2e8c4d-1a7f-4d3e-8b6c-9e0a2f4d7c13", "tenant"},
		"no audience":      {"tenant 72f988bf-86f1-41af-91ab-2d7cd011db47", "audience"},
		"http keys":        {"tenant 72f988bf-86f1-41af-91ab-2d7cd011db47\nclient_id 5b2e8c4d-1a7f-4d3e-8b6c-9e0a2f4d7c13\njwks_url http://keys.example/k", "https"},
		"missing file":     {"tenant 72f988bf-86f1-41af-91ab-2d7cd011db47\nclient_id 5b2e8c4d-1a7f-4d3e-8b6c-9e0a2f4d7c13\njwks_file /nonexistent/keys.json", "jwks_file"},
		"both sources":     {"tenant 72f988bf-86f1-41af-91ab-2d7cd011db47\nclient_id 5b2e8c4d-1a7f-4d3e-8b6c-9e0a2f4d7c13\njwks_file a\njwks_url https://a/", "exclude"},
		"short tou secret": {"tenant 72f988bf-86f1-41af-91ab-2d7cd011db47\nclient_id 5b2e8c4d-1a7f-4d3e-8b6c-9e0a2f4d7c13\nterms_of_use {\ntext hi\nsecret short\n}", "32 bytes"},
		"huge skew":        {"tenant 72f988bf-86f1-41af-91ab-2d7cd011db47\nclient_id 5b2e8c4d-1a7f-4d3e-8b6c-9e0a2f4d7c13\nclock_skew 1h", "clock_skew"},
	} {
		cfg := adaptSnippet(t, entraGlobal(c.block))
		if err := validate(t, cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
