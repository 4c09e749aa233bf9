package caddymdm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-mdm/caddy-mdm/internal/quote"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/trace"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "mdm",
		Usage: "devices|show|send|commands|cancel ...",
		Short: "Manages MDM devices through a running Caddy's admin API",
		Long: `
Lists enrolled Windows devices, shows one (record, inventory, last seen),
queues OMA-DM commands for a device's next session, and shows the commands
with their status and results.

It talks to the admin API of a running Caddy (--address, or CADDY_ADMIN, or
localhost:2019). Every subcommand takes --json for machine-readable output.

  caddy mdm devices [--state enrolled|unenrolled|retired] [--limit N] [--after ID]
  caddy mdm show <device-id>
  caddy mdm send <device-id> --get ./DevDetail/SwV
  caddy mdm send <device-id> --replace ./Device/Vendor/MSFT/...=1 --format int
  caddy mdm send <device-id> --add URI=DATA | --delete URI | --exec URI[=DATA]
  caddy mdm send <device-id> --replace A=1 --replace B=2 --atomic
  caddy mdm send <device-id> --raw command.xml   (one SyncML command; - for stdin)
  caddy mdm send <device-id> --replace URI=DATA --sensitive   (data kept out of logs, traces, listings)
  caddy mdm commands <device-id>
  caddy mdm cancel <device-id> <command-id>
  caddy mdm trace <device-id> [--raw]   (needs trace_exchanges in the mdm global option)
  caddy mdm unenroll <device-id>  (Unenroll in the next session; retired when delivered)
  caddy mdm retire <device-id> [--reason TEXT]   (now: lost or stolen devices)
  caddy mdm profile apply <name> <file.xml> (--all | --label L ...) [--exclude L ...]
  caddy mdm profile list | show <name> | delete <name>
  caddy mdm label <device-id> add|remove <label>
  caddy mdm wipe <device-id> --yes [--protected]   (RemoteWipe at the next session)
  caddy mdm reboot <device-id> --yes
  caddy mdm emulate --server https://enterpriseenrollment.<domain> ...   (a Windows device; see --help)
  caddy mdm diagnose <domain> [--root FILE] [--connect HOST:PORT]   (checks a deployment from the outside)`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.PersistentFlags().String("address", "", "Address of the administration API listener")
			cmd.PersistentFlags().Bool("json", false, "Print JSON instead of text")
			cmd.AddCommand(cliDevices(), cliShow(), cliSend(), cliCommands(), cliCancel(), cliTrace(), cliUnenroll(), cliRetire(), cliEmulate(), cliDiagnose())
			cmd.AddCommand(fleetCommands()...) // command_profile.go
		},
	})
}

// cli is one invocation: where the admin API is and how to print.
type cli struct {
	addr   string
	asJSON bool
	out    io.Writer
}

func newCLI(cmd *cobra.Command) (*cli, error) {
	addr, _ := cmd.Flags().GetString("address")
	asJSON, _ := cmd.Flags().GetBool("json")
	addr, err := caddycmd.DetermineAdminAPIAddress(addr, nil, "", "")
	if err != nil {
		return nil, err
	}
	return &cli{addr: addr, asJSON: asJSON, out: cmd.OutOrStdout()}, nil
}

// call makes an admin API request and decodes its JSON answer into v,
// turning {"error": ...} answers into errors.
func (c *cli) call(method, uri string, body any, v any) ([]byte, error) {
	var rd io.Reader
	hdr := http.Header{}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
		hdr.Set("Content-Type", "application/json")
	}
	resp, err := caddycmd.AdminAPIRequest(c.addr, method, uri, hdr, rd)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s (HTTP %d)", e.Error, resp.StatusCode)
		}
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			return nil, fmt.Errorf("decoding the admin API answer: %v", err)
		}
	}
	return raw, nil
}

// print writes raw JSON with --json, else runs text.
func (c *cli) print(raw []byte, text func(w *tabwriter.Writer)) error {
	if c.asJSON {
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return err
		}
		buf.WriteByte('\n')
		_, err := c.out.Write(buf.Bytes())
		return err
	}
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	text(w)
	return w.Flush()
}

func devicePath(id string) string { return "/mdm/devices/" + url.PathEscape(id) }

func cliDevices() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devices [--state S] [--limit N] [--after ID]",
		Short: "Lists devices",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newCLI(cmd)
			if err != nil {
				return err
			}
			q := url.Values{}
			for _, f := range []string{"state", "limit", "after"} {
				if v, _ := cmd.Flags().GetString(f); v != "" {
					q.Set(f, v)
				}
			}
			var list DeviceList
			raw, err := c.call(http.MethodGet, "/mdm/devices?"+q.Encode(), nil, &list)
			if err != nil {
				return err
			}
			return c.print(raw, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "DEVICE ID\tNAME\tSTATE\tUSER\tOS\tENROLLED")
				for _, d := range list.Devices {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", d.DeviceID, quote.Controls(d.DeviceName), d.State, quote.Controls(d.User), quote.Controls(d.OSVersion), d.EnrolledAt.Format(time.RFC3339))
				}
				if list.Next != "" {
					fmt.Fprintf(w, "(more: --after %s)\n", list.Next)
				}
			})
		},
	}
	cmd.Flags().String("state", "", "Only devices in this state")
	cmd.Flags().String("limit", "", "Devices per page (default 100)")
	cmd.Flags().String("after", "", "Start after this device ID")
	return cmd
}

func cliShow() *cobra.Command {
	return &cobra.Command{
		Use:   "show <device-id>",
		Short: "Shows a device: record, inventory, last seen",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newCLI(cmd)
			if err != nil {
				return err
			}
			var d DeviceDetail
			raw, err := c.call(http.MethodGet, devicePath(args[0]), nil, &d)
			if err != nil {
				return err
			}
			return c.print(raw, func(w *tabwriter.Writer) {
				dev := d.Device
				for _, kv := range [][2]string{
					{"Device ID", dev.DeviceID}, {"Name", dev.DeviceName}, {"State", string(dev.State) + " " + dev.StateReason},
					{"User", dev.User + " (" + string(dev.AuthPolicy) + ")"}, {"OS", dev.OSVersion}, {"Enrollment", string(dev.EnrollmentType)},
					{"Enrolled", dev.EnrolledAt.Format(time.RFC3339)}, {"HWDevID", dev.HWDevID},
					{"Certificate", dev.Certificate.Subject + " serial " + dev.Certificate.Serial + " until " + dev.Certificate.NotAfter.Format(time.RFC3339)},
					{"Pending commands", fmt.Sprint(d.PendingCommands)},
				} {
					fmt.Fprintf(w, "%s:\t%s\n", kv[0], quote.Controls(kv[1]))
				}
				if d.LastSeen != nil {
					fmt.Fprintf(w, "Last seen:\t%s (session %s, %s)\n", d.LastSeen.Format(time.RFC3339), quote.Controls(d.SessionID), d.SessionAuth)
				}
				printFleet(w, &d) // command_profile.go
				fmt.Fprintln(w, "Inventory:")
				for _, k := range sortedKeys(d.Inventory.Nodes) {
					fmt.Fprintf(w, "  %s\t%s\n", quote.Controls(k), quote.Controls(d.Inventory.Nodes[k]))
				}
				for _, k := range sortedKeys(d.Inventory.Events) {
					fmt.Fprintf(w, "  event %s\t%s\n", quote.Controls(k), quote.Controls(d.Inventory.Events[k]))
				}
				for _, a := range d.Inventory.Alerts {
					fmt.Fprintf(w, "  alert %s\t%s %s (%s)\n", quote.Controls(a.Code), quote.Controls(a.Type), quote.Controls(a.Data), a.At.Format(time.RFC3339))
				}
			})
		},
	}
}

func cliSend() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "send <device-id> (--get URI | --replace URI=DATA | --add URI=DATA | --delete URI | --exec URI[=DATA])... [--atomic|--sequence] | --raw FILE",
		Short: "Queues a command for the device's next session",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newCLI(cmd)
			if err != nil {
				return err
			}
			req, err := commandFromFlags(cmd)
			if err != nil {
				return err
			}
			req.Sensitive, _ = cmd.Flags().GetBool("sensitive")
			var out store.Command
			raw, err := c.call(http.MethodPost, devicePath(args[0])+"/commands", req, &out)
			if err != nil {
				return err
			}
			return c.print(raw, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "queued %s (%s) for %s\n", out.ID, describeSpec(&out.Spec), args[0])
			})
		},
	}
	f := cmd.Flags()
	for _, verb := range []string{"get", "replace", "add", "delete", "exec"} {
		f.StringArray(verb, nil, "A "+verb+" item (repeatable)")
	}
	f.String("format", "", "Meta Format of the items (chr, int, bool, b64, xml, node, ...)")
	f.String("type", "", "Meta Type of the items (e.g. text/plain)")
	f.Bool("atomic", false, "Wrap the commands in an Atomic")
	f.Bool("sequence", false, "Wrap the commands in a Sequence")
	f.String("raw", "", "A file holding one SyncML command (- for stdin)")
	f.Bool("sensitive", false, "The data is secret (Wi-Fi key, VPN secret, PFX password): delivered as is, REDACTED in logs, traces and listings, results included")
	return cmd
}

// commandFromFlags builds the command request of `caddy mdm send`.
func commandFromFlags(cmd *cobra.Command) (*CommandRequest, error) {
	f := cmd.Flags()
	if raw, _ := f.GetString("raw"); raw != "" {
		var b []byte
		var err error
		if raw == "-" {
			b, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxCommandBody))
		} else {
			b, err = os.ReadFile(raw)
		}
		if err != nil {
			return nil, err
		}
		return &CommandRequest{Raw: string(b)}, nil
	}
	format, _ := f.GetString("format")
	typ, _ := f.GetString("type")
	var specs []store.CommandSpec
	for _, verb := range []string{"Get", "Replace", "Add", "Delete", "Exec"} {
		vals, _ := f.GetStringArray(strings.ToLower(verb))
		for _, v := range vals {
			uri, data, hasData := strings.Cut(v, "=")
			if (verb == "Replace" || verb == "Add") && !hasData {
				return nil, fmt.Errorf("--%s needs URI=DATA", strings.ToLower(verb))
			}
			it := store.ItemSpec{Target: uri, Data: data}
			if verb != "Get" && verb != "Delete" {
				it.Format, it.Type = format, typ
			}
			specs = append(specs, store.CommandSpec{Verb: verb, Items: []store.ItemSpec{it}})
		}
	}
	atomic, _ := f.GetBool("atomic")
	sequence, _ := f.GetBool("sequence")
	switch {
	case len(specs) == 0:
		return nil, errors.New("nothing to send: give --get, --replace, --add, --delete, --exec or --raw")
	case atomic && sequence:
		return nil, errors.New("--atomic or --sequence, not both")
	case atomic:
		return &CommandRequest{CommandSpec: store.CommandSpec{Verb: "Atomic", Commands: specs}}, nil
	case sequence:
		return &CommandRequest{CommandSpec: store.CommandSpec{Verb: "Sequence", Commands: specs}}, nil
	case len(specs) > 1:
		return nil, errors.New("one command at a time, or wrap several with --atomic or --sequence")
	}
	return &CommandRequest{CommandSpec: specs[0]}, nil
}

func cliCommands() *cobra.Command {
	return &cobra.Command{
		Use:   "commands <device-id>",
		Short: "Lists a device's commands with status and results",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newCLI(cmd)
			if err != nil {
				return err
			}
			var list CommandList
			raw, err := c.call(http.MethodGet, devicePath(args[0])+"/commands", nil, &list)
			if err != nil {
				return err
			}
			return c.print(raw, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "COMMAND ID\tCOMMAND\tSTATE\tSTATUS\tCREATED")
				for _, cm := range list.Commands {
					status := "-"
					if cm.Status != 0 {
						status = fmt.Sprint(cm.Status)
					}
					desc := describeSpec(&cm.Spec)
					if trace.SensitiveSpec(&cm.Spec) {
						desc += " (sensitive)"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", cm.ID, quote.Controls(desc), cm.State, status, cm.CreatedAt.Format(time.RFC3339))
					for _, r := range cm.Results {
						fmt.Fprintf(w, "  %s\t= %s\t\t\t\n", quote.Controls(r.Source), quote.Controls(r.Data))
					}
					if cm.Reason != "" {
						fmt.Fprintf(w, "  reason:\t%s\t\t\t\n", quote.Controls(cm.Reason))
					}
				}
			})
		},
	}
}

func cliCancel() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel <device-id> <command-id>",
		Short: "Cancels a command that is still queued",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newCLI(cmd)
			if err != nil {
				return err
			}
			raw, err := c.call(http.MethodDelete, devicePath(args[0])+"/commands/"+url.PathEscape(args[1]), nil, nil)
			if err != nil {
				return err
			}
			return c.print(raw, func(w *tabwriter.Writer) { fmt.Fprintf(w, "canceled %s\n", args[1]) })
		},
	}
}

func cliUnenroll() *cobra.Command {
	return &cobra.Command{
		Use:   "unenroll <device-id>",
		Short: "Unenrolls a device in its next session, then retires it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newCLI(cmd)
			if err != nil {
				return err
			}
			var out store.Command
			raw, err := c.call(http.MethodPost, devicePath(args[0])+"/unenroll", nil, &out)
			if err != nil {
				return err
			}
			return c.print(raw, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "queued %s (%s): %s is retired when it is delivered\n", out.ID, describeSpec(&out.Spec), args[0])
			})
		},
	}
}

func cliRetire() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "retire <device-id> [--reason TEXT]",
		Short: "Retires a device now: its certificate and credentials stop working",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newCLI(cmd)
			if err != nil {
				return err
			}
			reason, _ := cmd.Flags().GetString("reason")
			var out store.Device
			raw, err := c.call(http.MethodPost, devicePath(args[0])+"/retire", RetireRequest{Reason: reason}, &out)
			if err != nil {
				return err
			}
			return c.print(raw, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%s is %s (%s)\n", out.DeviceID, out.State, out.StateReason)
			})
		},
	}
	cmd.Flags().String("reason", "", "Why, for the record")
	return cmd
}

// describeSpec is a one-line description of a command.
func describeSpec(s *store.CommandSpec) string {
	if len(s.Commands) > 0 {
		parts := make([]string, len(s.Commands))
		for i := range s.Commands {
			parts[i] = describeSpec(&s.Commands[i])
		}
		return s.Verb + "[" + strings.Join(parts, "; ") + "]"
	}
	targets := make([]string, len(s.Items))
	for i, it := range s.Items {
		targets[i] = it.Target
	}
	return s.Verb + " " + strings.Join(targets, " ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
