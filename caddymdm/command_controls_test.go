package caddymdm

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// TestCLIEscapesDeviceControls: `caddy mdm show` and `caddy mdm commands`
// print what a device reported with its control characters escaped, so a
// value can neither fake a line nor drive the terminal; --json keeps it as
// sent.
func TestCLIEscapesDeviceControls(t *testing.T) {
	const id = "1E08C6E95D8BB843B1278FF45BC60CC6"
	evil := "Contoso\nPending commands:\t0\x1b[2J\u009b31m"
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v any
		switch r.URL.Path {
		case "/mdm/devices/" + id:
			v = DeviceDetail{Device: store.Device{DeviceID: id, DeviceName: evil},
				Inventory: store.Inventory{Nodes: map[string]string{"./DevInfo/Man\n": evil}, Events: map[string]string{"t": evil}}}
		case "/mdm/devices/" + id + "/commands":
			v = CommandList{Commands: []*store.Command{{ID: "c1", State: store.CommandAcknowledged, CreatedAt: time.Now(),
				Spec:    store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./DevDetail/SwV"}}},
				Results: []store.Result{{Source: "./DevDetail/SwV", Data: evil}}}}}
		default:
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(v)
	}))
	defer api.Close()
	addr := strings.TrimPrefix(api.URL, "http://")

	run := func(args ...string) string {
		t.Helper()
		root := &cobra.Command{Use: "mdm"}
		root.PersistentFlags().String("address", "", "")
		root.PersistentFlags().Bool("json", false, "")
		root.AddCommand(cliShow(), cliCommands())
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(append(args, "--address", addr))
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	for _, sub := range []string{"show", "commands"} {
		out := run(sub, id)
		if strings.ContainsAny(out, "\x1b\t") || strings.Contains(out, "\u009b") {
			t.Errorf("%s printed control characters:\n%q", sub, out)
		}
		if strings.Count(out, "\nPending commands:") > 1 || !strings.Contains(out, `Contoso\nPending commands:\t0\x1b[2J\u009b31m`) {
			t.Errorf("%s: a device value made a line of its own, or is missing:\n%s", sub, out)
		}
	}
	if out := run("show", id, "--json"); !strings.Contains(out, `\u001b[2J`) {
		t.Errorf("--json changed the value: %s", out)
	}
}
