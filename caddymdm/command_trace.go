package caddymdm

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/caddy-mdm/caddy-mdm/internal/quote"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/traceview"
)

// cliTrace is `caddy mdm trace <device-id>`: the device's kept exchanges,
// as a person reads them (internal/traceview), as kept (--raw: one line
// per body), or as the admin API's JSON (--json).
func cliTrace() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trace <device-id> [--raw] [--color auto|always|never]",
		Short: "Shows a device's latest exchanges, secrets redacted",
		Long: `
Shows the exchanges kept for a device (trace_exchanges in the mdm global
option), oldest first, secrets redacted. Each exchange shows what the device
sent (-->) and what it was answered (<--): a title, the SyncML commands one
per line (or the SOAP operation's facts), the certificates the message
carries decoded (subject, issuer, validity, SHA-1 thumbprint), then the
whole message indented. Colours on a terminal, unless NO_COLOR is set.

--raw prints each body on one line, as kept; --json the admin API's answer.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newCLI(cmd)
			if err != nil {
				return err
			}
			var t store.Trace
			raw, err := c.call(http.MethodGet, devicePath(args[0])+"/trace", nil, &t)
			if err != nil {
				return err
			}
			if len(t.Exchanges) == 0 && !c.asJSON {
				fmt.Fprintln(c.out, "no exchanges kept: set trace_exchanges in the mdm global option")
				return nil
			}
			if asRaw, _ := cmd.Flags().GetBool("raw"); asRaw || c.asJSON {
				return c.print(raw, func(w *tabwriter.Writer) {
					for _, ex := range t.Exchanges {
						// One line each: a device's newlines and controls escaped.
						fmt.Fprintf(w, "=== %s %s (HTTP %d)\n--> %s\n<-- %s\n", ex.At.Format(time.RFC3339Nano), ex.Kind, ex.Status, quote.Controls(ex.Request), quote.Controls(ex.Response))
					}
				})
			}
			mode, _ := cmd.Flags().GetString("color")
			color, err := useColor(mode, c.out)
			if err != nil {
				return err
			}
			return traceview.Render(c.out, traceview.FromTrace(&t), traceview.Options{Color: color})
		},
	}
	cmd.Flags().Bool("raw", false, "Print each body as kept, on one line")
	cmd.Flags().String("color", "auto", "Colours: auto (a terminal without NO_COLOR), always or never")
	return cmd
}

// useColor decides on colours: auto means stdout is a terminal and
// NO_COLOR (https://no-color.org) is unset or empty.
func useColor(mode string, out io.Writer) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto", "":
		if os.Getenv("NO_COLOR") != "" {
			return false, nil
		}
		f, ok := out.(*os.File)
		return ok && term.IsTerminal(int(f.Fd())), nil
	}
	return false, fmt.Errorf("--color %q: want auto, always or never", mode)
}
