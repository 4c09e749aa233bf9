package caddymdm

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/caddy-mdm/caddy-mdm/internal/profile"
	"github.com/caddy-mdm/caddy-mdm/internal/quote"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// The fleet-management commands: `caddy mdm profile ...`, `caddy mdm
// label ...`, `caddy mdm wipe` and `caddy mdm reboot`. Like the other
// `caddy mdm` commands they only call the admin API, where
// internal/profile holds every rule.

// fleetCommands are registered next to the device commands in command.go.
func fleetCommands() []*cobra.Command {
	return []*cobra.Command{cliProfile(), cliLabel(), cliWipe(), cliReboot()}
}

func profilePath(name string) string { return "/mdm/profiles/" + url.PathEscape(name) }

func cliProfile() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile apply|list|show|delete ...",
		Short: "Manages configuration profiles (desired state for labelled devices)",
	}
	cmd.AddCommand(cliProfileApply(), cliProfileList(), cliProfileShow(), cliProfileDelete())
	return cmd
}

func cliProfileApply() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apply <name> <file.xml> (--all | --label L ...) [--exclude L ...] [--retries N]",
		Short: "Creates or replaces a profile from a SyncML fragment",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newCLI(cmd)
			if err != nil {
				return err
			}
			b, err := readBounded(cmd, args[1], maxProfileBody)
			if err != nil {
				return err
			}
			f := cmd.Flags()
			req := ProfileRequest{SyncML: string(b)}
			req.All, _ = f.GetBool("all")
			req.IncludeAny, _ = f.GetStringArray("label")
			req.ExcludeAny, _ = f.GetStringArray("exclude")
			if f.Changed("retries") {
				n, _ := f.GetInt("retries")
				req.Retries = &n
			}
			if uris, _ := f.GetStringArray("verify"); len(uris) > 0 {
				every, _ := f.GetString("verify-interval")
				req.Verify = &store.ProfileVerify{LocURIs: uris, Interval: every}
			}
			if !req.All && len(req.IncludeAny) == 0 {
				return errors.New("give --all or at least one --label")
			}
			var out ProfileDetail
			raw, err := c.call(http.MethodPut, profilePath(args[0]), req, &out)
			if err != nil {
				return err
			}
			return c.print(raw, func(w *tabwriter.Writer) {
				verb := "unchanged"
				if out.Changed != nil && *out.Changed {
					verb = "applied"
				}
				fmt.Fprintf(w, "%s %s version %s: %d devices targeted, delivered at their next session\n",
					verb, out.Profile.Name, out.Profile.Version, out.Summary.Targeted)
			})
		},
	}
	f := cmd.Flags()
	f.Bool("all", false, "Target every device")
	f.StringArray("label", nil, "Target devices carrying this label (repeatable: any of them)")
	f.StringArray("exclude", nil, "Leave out devices carrying this label (repeatable)")
	f.Int("retries", profile.DefaultRetries, "Retries of a failed delivery in later sessions")
	f.StringArray("verify", nil, "Read this LocURI back to detect drift (repeatable; off by default)")
	f.String("verify-interval", "", "How often to read back (default 24h)")
	return cmd
}

// readBounded reads a file (- for stdin) of at most max bytes.
func readBounded(cmd *cobra.Command, name string, max int) ([]byte, error) {
	if name == "-" {
		b := make([]byte, 0, 4096)
		buf := make([]byte, 4096)
		for len(b) <= max {
			n, err := cmd.InOrStdin().Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				break
			}
		}
		if len(b) > max {
			return nil, fmt.Errorf("stdin holds more than %d bytes", max)
		}
		return b, nil
	}
	st, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if st.Size() > int64(max) {
		return nil, fmt.Errorf("%s is %d bytes, over %d", name, st.Size(), max)
	}
	return os.ReadFile(name)
}

func cliProfileList() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "Lists the profiles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newCLI(cmd)
			if err != nil {
				return err
			}
			var list ProfileList
			raw, err := c.call(http.MethodGet, "/mdm/profiles", nil, &list)
			if err != nil {
				return err
			}
			return c.print(raw, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tVERSION\tTARGETS\tRETRIES\tSOURCE\tUPDATED")
				for _, p := range list.Profiles {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", p.Name, p.Version, describeTargets(p.Targets), p.Retries, p.Source, p.Updated.Format(time.RFC3339))
				}
			})
		},
	}
}

func describeTargets(t store.ProfileTargets) string {
	s := "labels " + strings.Join(t.IncludeAny, ",")
	if t.All {
		s = "all"
	}
	if len(t.ExcludeAny) > 0 {
		s += " except " + strings.Join(t.ExcludeAny, ",")
	}
	return s
}

func cliProfileShow() *cobra.Command {
	return &cobra.Command{
		Use:   "show <name>",
		Short: "Shows a profile: counts per state and the failing devices with reasons",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newCLI(cmd)
			if err != nil {
				return err
			}
			var d ProfileDetail
			raw, err := c.call(http.MethodGet, profilePath(args[0]), nil, &d)
			if err != nil {
				return err
			}
			var failing profile.DevicePage
			rawFail, err := c.call(http.MethodGet, profilePath(args[0])+"/devices?state=failed&limit=100", nil, &failing)
			if err != nil {
				return err
			}
			if c.asJSON {
				raw = []byte(fmt.Sprintf(`{"profile":%s,"failing":%s}`, raw, rawFail))
			}
			return c.print(raw, func(w *tabwriter.Writer) {
				p := d.Profile
				fmt.Fprintf(w, "Profile:\t%s\nVersion:\t%s\nTargets:\t%s\nRetries:\t%d\nTargeted:\t%d devices\n", p.Name, p.Version, describeTargets(p.Targets), p.Retries, d.Summary.Targeted)
				for _, st := range store.ProfileStates {
					fmt.Fprintf(w, "  %s:\t%d\n", st, d.Summary.Counts[st])
				}
				if len(failing.Devices) > 0 {
					fmt.Fprintln(w, "Failing devices:")
					for _, fd := range failing.Devices {
						fmt.Fprintf(w, "  %s\t%s (attempt %d)\n", fd.DeviceID, strings.Join(fd.Failures, "; "), fd.Attempts)
					}
					if failing.Next != "" {
						fmt.Fprintln(w, "  (more: GET /mdm/profiles/<name>/devices?state=failed)")
					}
				}
			})
		},
	}
}

func cliProfileDelete() *cobra.Command {
	return &cobra.Command{
		Use:   "delete <name>",
		Short: "Deletes a profile; its settings are removed from the devices at their next session",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newCLI(cmd)
			if err != nil {
				return err
			}
			raw, err := c.call(http.MethodDelete, profilePath(args[0]), nil, nil)
			if err != nil {
				return err
			}
			return c.print(raw, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "deleted %s: removed from its devices at their next session\n", args[0])
			})
		},
	}
}

func cliLabel() *cobra.Command {
	return &cobra.Command{
		Use:   "label <device-id> add|remove <label>",
		Short: "Adds or removes a device label; profiles follow at its next session",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newCLI(cmd)
			if err != nil {
				return err
			}
			method := http.MethodPut
			switch args[1] {
			case "add":
			case "remove":
				method = http.MethodDelete
			default:
				return fmt.Errorf("%q: want add or remove", args[1])
			}
			var v profile.DeviceView
			raw, err := c.call(method, devicePath(args[0])+"/labels/"+url.PathEscape(args[2]), nil, &v)
			if err != nil {
				return err
			}
			return c.print(raw, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%s labels: %s (automatic: %s)\n", args[0], strings.Join(v.Labels, ", "), strings.Join(v.AutoLabels, ", "))
			})
		},
	}
}

func cliWipe() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "wipe <device-id> --yes [--protected]",
		Short: "Wipes a device (RemoteWipe doWipe) at its next session",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if yes, _ := cmd.Flags().GetBool("yes"); !yes {
				return errors.New("a wipe erases the device: confirm with --yes")
			}
			protected, _ := cmd.Flags().GetBool("protected")
			return runAction(cmd, args[0], "wipe", WipeRequest{Protected: protected})
		},
	}
	cmd.Flags().Bool("yes", false, "Confirm: the device will be erased")
	cmd.Flags().Bool("protected", false, "doWipeProtected: also cleans the drive and resists interruption (some devices may not boot after it)")
	return cmd
}

func cliReboot() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reboot <device-id> --yes",
		Short: "Restarts a device (Reboot RebootNow) at its next session",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if yes, _ := cmd.Flags().GetBool("yes"); !yes {
				return errors.New("a reboot interrupts the device's user: confirm with --yes")
			}
			return runAction(cmd, args[0], "reboot", nil)
		},
	}
	cmd.Flags().Bool("yes", false, "Confirm the reboot")
	return cmd
}

func runAction(cmd *cobra.Command, id, action string, body any) error {
	c, err := newCLI(cmd)
	if err != nil {
		return err
	}
	var out store.Command
	raw, err := c.call(http.MethodPost, devicePath(id)+"/"+action, body, &out)
	if err != nil {
		return err
	}
	return c.print(raw, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "queued %s %s (%s) for %s: see caddy mdm commands %s\n", action, out.ID, describeSpec(&out.Spec), id, id)
	})
}

// printFleet adds a device's labels, profile states and actions to `caddy
// mdm show`.
func printFleet(w io.Writer, d *DeviceDetail) {
	if v := d.DeviceView; v != nil {
		fmt.Fprintf(w, "Labels:\t%s (automatic: %s)\n", strings.Join(v.Labels, ", "), strings.Join(v.AutoLabels, ", "))
		for _, p := range v.Profiles {
			fmt.Fprintf(w, "Profile %s:\t%s\n", p.Name, quote.Controls(p.Detail))
		}
	}
	for _, a := range d.Actions {
		fmt.Fprintf(w, "Action %s:\t%s %s (status %d)\n", a.Action, a.Requested.Format(time.RFC3339), a.State, a.Status)
	}
}
