package caddymdm

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/caddy-mdm/caddy-mdm/internal/diagnose"
)

// cliDiagnose is `caddy mdm diagnose <domain>`: internal/diagnose's
// checks of a live deployment, from the outside and without credentials.
func cliDiagnose() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diagnose <domain> [--root FILE] [--connect HOST:PORT] [--port N] [--device-ca FILE] [--timeout D] [--json]",
		Short: "Checks a deployment from the outside, as a Windows device would",
		Long: `
Checks, without credentials, what a Windows device needs of the server for
users @<domain>: DNS of enterpriseenrollment.<domain>; a TLS certificate
naming that host exactly (no wildcard: P1), its chain (system roots, or
--root) and expiry; discovery by GET and by the POST a real Windows 10
sends; the policy and enrollment URLs it announces (HTTPS, DNS names,
served); revocation URLs of the server chain (and of --device-ca); clock
skew (the server's Date header); the client certificates it asks for; the
ports Windows uses (443 only).

One PASS, FAIL, WARN or INFO line per check, with what to fix; --json for
machines; the exit code is non-zero when a check fails.

  caddy mdm diagnose contoso.com
  caddy mdm diagnose contoso.com --connect 127.0.0.1:8443 \
      --root ~/.local/share/caddy/pki/authorities/local/root.crt`,
		Args: cobra.ExactArgs(1),
		RunE: runDiagnose,
	}
	f := cmd.Flags()
	f.String("root", "", "PEM file of the CA(s) that the server's chain must verify against (default: the system roots)")
	f.String("connect", "", "Dial this host:port for the enrollment host instead of what DNS says (TLS still names the host)")
	f.Int("port", 443, "HTTPS port of the enrollment host (Windows uses 443)")
	f.String("device-ca", "", "PEM file of the device CA, to check its CRL and AIA URLs")
	f.Duration("timeout", 10*time.Second, "Limit of each network operation")
	return cmd
}

func runDiagnose(cmd *cobra.Command, args []string) error {
	f := cmd.Flags()
	opts := diagnose.Options{Domain: args[0]}
	opts.Connect, _ = f.GetString("connect")
	opts.Port, _ = f.GetInt("port")
	opts.Timeout, _ = f.GetDuration("timeout")
	if opts.Port < 1 || opts.Port > 65535 {
		return fmt.Errorf("--port %d: want 1 to 65535", opts.Port)
	}
	if root, _ := f.GetString("root"); root != "" {
		certs, err := readCertificates(root)
		if err != nil {
			return fmt.Errorf("--root: %v", err)
		}
		if len(certs) == 0 {
			return fmt.Errorf("--root %s holds no PEM certificate", root)
		}
		opts.Roots = x509.NewCertPool()
		for _, c := range certs {
			opts.Roots.AddCert(c)
		}
	}
	if file, _ := f.GetString("device-ca"); file != "" {
		certs, err := readCertificates(file)
		if err != nil {
			return fmt.Errorf("--device-ca: %v", err)
		}
		if len(certs) == 0 {
			return fmt.Errorf("--device-ca %s holds no PEM certificate", file)
		}
		opts.DeviceCA = certs[0]
	}
	report := diagnose.Run(context.Background(), opts)
	out := cmd.OutOrStdout()
	var err error
	if asJSON, _ := f.GetBool("json"); asJSON {
		err = report.WriteJSON(out)
	} else {
		err = report.WriteText(out)
	}
	if err != nil {
		return err
	}
	if report.Failed() {
		return errors.New("the deployment failed checks: see the FAIL lines")
	}
	return nil
}
