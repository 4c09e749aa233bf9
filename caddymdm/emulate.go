package caddymdm

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/caddy-mdm/caddy-mdm/internal/emulator"
)

// cliEmulate is `caddy mdm emulate`: a Windows device in a command.
func cliEmulate() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulate --server https://enterpriseenrollment.<domain> [options]",
		Short: "Behaves like a Windows device against an MDM server and checks every answer",
		Long: `
Enrolls like a Windows 10/11 device (or a Windows Phone 8 with --wp8): GET
and POST discovery, GetPolicies, RequestSecurityToken with a CSR shaped
exactly like Windows' own; then runs OMA-DM sessions with the issued
certificate (or MD5 digest), answering Get/Add/Replace/Delete/Exec/Atomic as
a device does. Every rule a device depends on is checked and printed as a
PASS or FAIL line; the exit code is non-zero when a check fails.

With --state DIR the enrollment is kept and later runs reuse it (sessions
only). With --load, N devices enroll and run sessions with C workers, and
throughput and latency are printed.`,
		Args: cobra.NoArgs,
		RunE: runEmulate,
	}
	f := cmd.Flags()
	f.String("server", "", "Enrollment server (https://enterpriseenrollment.<domain>) or discovery URL")
	f.String("connect-to", "", "Dial this host:port instead of the server's address")
	f.String("root", "", "PEM file of the CA that signed the server's certificate")
	f.Bool("insecure", false, "Do not verify the server's certificate")
	f.Bool("no-resume", false, "Full TLS handshake for every session (by default a device resumes its TLS sessions, as Windows does)")
	f.String("user", "", "User name (e-mail) for OnPremise authentication")
	f.String("password", "", "Password (or set MDM_EMULATE_PASSWORD)")
	f.String("token", "", "Federated enrollment token: the wresult the login page posts to appru (instead of a password)")
	f.String("jwt", "", "Entra ID access token (Entra join or work account; with --enrollment device for a join)")
	f.String("enrollment-data", "", "Entra: the terms of use OpaqueBlob (AdditionalContext EnrollmentData)")
	f.String("aad-user-token", "", "Entra: the signed-in user's token, sent in each session (Alert 1224 AADUserToken)")
	f.String("request-version", "4.0", "Discovery RequestVersion (4.0 ... 9.0)")
	f.String("enrollment", "full", "Enrollment type: full (user) or device")
	f.Bool("wp8", false, "Behave like a Windows Phone 8")
	f.String("state", "", "Directory keeping the device between runs")
	f.Int("sessions", 1, "OMA-DM sessions to run")
	f.String("auth", "certificate", "OMA-DM authentication: certificate or digest")
	f.Bool("challenge-server", false, "Ask the server for its credentials in the session and check them")
	f.Bool("renew", false, "Renew the certificate (ROBO) before the sessions")
	f.Bool("unenroll", false, "Send the unenrollment alert in the last session")
	f.Duration("timeout", 30*time.Second, "Timeout of one request")
	f.StringArray("fail-uri", nil, "Answer this status for commands on this LocURI: ./URI=405 (repeatable)")
	f.Bool("load", false, "Load mode: many devices at once")
	f.Int("devices", 100, "Load mode: devices to enroll")
	f.Int("sessions-per-device", 10, "Load mode: sessions per device")
	f.Int("workers", 8, "Load mode: concurrent workers")
	f.Int("key-pool", 8, "Load mode: RSA keys shared by the devices")
	return cmd
}

func emulatorOptions(cmd *cobra.Command) (emulator.Options, error) {
	f := cmd.Flags()
	str := func(n string) string { v, _ := f.GetString(n); return v }
	boolean := func(n string) bool { v, _ := f.GetBool(n); return v }
	o := emulator.Options{
		ServerURL: str("server"), ConnectTo: str("connect-to"), Insecure: boolean("insecure"), NoResume: boolean("no-resume"),
		User: str("user"), Password: str("password"), Token: str("token"),
		JWT: str("jwt"), EnrollmentData: str("enrollment-data"), AADUserToken: str("aad-user-token"),
		RequestVersion: str("request-version"), WindowsPhone8: boolean("wp8"),
		ManagementAuth: str("auth"), ChallengeServer: boolean("challenge-server"),
	}
	o.Timeout, _ = f.GetDuration("timeout")
	fails, _ := f.GetStringArray("fail-uri")
	for _, v := range fails {
		uri, code, err := emulator.ParseFailURI(v)
		if err != nil {
			return o, err
		}
		if o.FailURIs == nil {
			o.FailURIs = map[string]int{}
		}
		o.FailURIs[uri] = code
	}
	if o.ServerURL == "" {
		return o, errors.New("--server is required (https://enterpriseenrollment.<domain>)")
	}
	if o.Password == "" {
		o.Password = os.Getenv("MDM_EMULATE_PASSWORD")
	}
	switch strings.ToLower(str("enrollment")) {
	case "full":
		o.EnrollmentType = "Full"
	case "device":
		o.EnrollmentType = "Device"
	default:
		return o, errors.New("--enrollment is full or device")
	}
	if o.ManagementAuth != "certificate" && o.ManagementAuth != "digest" {
		return o, errors.New("--auth is certificate or digest")
	}
	if root := str("root"); root != "" {
		certs, err := readCertificates(root)
		if err != nil {
			return o, err
		}
		o.RootCAs = x509.NewCertPool()
		for _, c := range certs {
			o.RootCAs.AddCert(c)
		}
	}
	return o, nil
}

func runEmulate(cmd *cobra.Command, _ []string) error {
	o, err := emulatorOptions(cmd)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	asJSON, _ := cmd.Flags().GetBool("json")
	out := cmd.OutOrStdout()
	if load, _ := cmd.Flags().GetBool("load"); load {
		return runLoad(ctx, cmd, o, out, asJSON)
	}

	stateDir, _ := cmd.Flags().GetString("state")
	var dev *emulator.Device
	if stateDir != "" {
		if dev, err = emulator.LoadDevice(stateDir); err != nil {
			return err
		}
	}
	r := &emulator.Report{}
	if dev == nil || !dev.Enrolled() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return err
		}
		dev = emulator.NewDevice(key)
		if err := emulator.Enroll(ctx, o, dev, r); err != nil {
			return finish(out, asJSON, r, dev, err)
		}
	}
	if renew, _ := cmd.Flags().GetBool("renew"); renew {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return err
		}
		if err := emulator.Renew(ctx, o, dev, key, r); err != nil {
			return finish(out, asJSON, r, dev, err)
		}
	}
	sessions, _ := cmd.Flags().GetInt("sessions")
	unenroll, _ := cmd.Flags().GetBool("unenroll")
	for i := 0; i < sessions && !dev.Unenrolled; i++ {
		res, err := emulator.Session(ctx, o, dev, r, unenroll && i == sessions-1)
		if err != nil {
			return finish(out, asJSON, r, dev, err)
		}
		r.Checks = append(r.Checks, emulator.Check{Name: fmt.Sprintf("session %d", dev.Session), Pass: true,
			Detail: fmt.Sprintf("%d messages%s; executed: %s", res.Messages, resumedNote(res.Resumed), strings.Join(res.Executed, ", "))})
		if res.Unenrolled {
			r.Checks = append(r.Checks, emulator.Check{Name: "server unenrolled the device", Pass: true})
		}
	}
	if stateDir != "" {
		if err := dev.Save(stateDir); err != nil {
			return err
		}
	}
	return finish(out, asJSON, r, dev, nil)
}

// finish prints the report and turns failures into the exit code.
func finish(out io.Writer, asJSON bool, r *emulator.Report, dev *emulator.Device, runErr error) error {
	if asJSON {
		b, _ := json.MarshalIndent(struct {
			DeviceID string           `json:"device_id"`
			Checks   []emulator.Check `json:"checks"`
			Failed   int              `json:"failed"`
			Error    string           `json:"error,omitempty"`
		}{dev.ID, r.Checks, r.Failed(), errString(runErr)}, "", "  ")
		fmt.Fprintln(out, string(b))
	} else {
		fmt.Fprintf(out, "device %s\n", dev.ID)
		r.Print(out)
	}
	switch {
	case r.Failed() > 0:
		return fmt.Errorf("%d checks failed", r.Failed())
	case runErr != nil:
		return runErr
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func runLoad(ctx context.Context, cmd *cobra.Command, o emulator.Options, out io.Writer, asJSON bool) error {
	f := cmd.Flags()
	lo := emulator.LoadOptions{}
	lo.Devices, _ = f.GetInt("devices")
	lo.SessionsPerDevice, _ = f.GetInt("sessions-per-device")
	lo.Workers, _ = f.GetInt("workers")
	lo.KeyPool, _ = f.GetInt("key-pool")
	if term.IsTerminal(int(os.Stderr.Fd())) {
		lo.Progress = progressBar(os.Stderr)
	}
	res, err := emulator.Load(ctx, o, lo)
	if err != nil {
		return err
	}
	if lo.Progress != nil {
		fmt.Fprintln(os.Stderr)
	}
	if asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(out, string(b))
	} else {
		res.Print(out)
	}
	if res.Enrollments.Errors+res.Sessions.Errors > 0 {
		return fmt.Errorf("%d enrollments and %d sessions failed", res.Enrollments.Errors, res.Sessions.Errors)
	}
	return nil
}

// progressBar draws one line per phase on a terminal, at most 10 times a second.
func progressBar(w io.Writer) func(string, int, int) {
	var last time.Time
	var lastPhase string
	return func(phase string, done, total int) {
		if phase != lastPhase && lastPhase != "" {
			fmt.Fprintln(w)
		}
		lastPhase = phase
		if done != total && time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		const width = 40
		n := done * width / total
		fmt.Fprintf(w, "\r%-9s [%s%s] %d/%d", phase, strings.Repeat("=", n), strings.Repeat(" ", width-n), done, total)
	}
}

// resumedNote says whether a session's TLS connection was resumed.
func resumedNote(resumed bool) string {
	if resumed {
		return ", TLS session resumed"
	}
	return ""
}
