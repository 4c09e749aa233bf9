// Package diagnose checks a live Windows MDM deployment from the outside,
// as a device would and without credentials: the DNS name Windows derives
// from the user's e-mail domain, the TLS certificate (named exactly, no
// wildcard: P1), its chain and expiry, discovery by GET and by the POST a
// real Windows 10 sends, the URLs discovery announces, revocation URLs,
// clock skew and the ports Windows uses. Each check gives one line: PASS,
// FAIL (with what to fix), WARN or INFO. `caddy mdm diagnose` prints it.
//
// It knows nothing of Caddy: it talks HTTPS like any client. Every network
// operation is bounded by Options.Timeout and every body it reads by
// maxBody.
package diagnose

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Status of a check.
type Status string

// Statuses, from best to worst.
const (
	Pass Status = "PASS"
	Info Status = "INFO"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// Check is one finding.
type Check struct {
	// Name is short and stable, e.g. "dns", "tls-name", "discovery-post".
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Detail says what was found.
	Detail string `json:"detail"`
	// Fix says what to do, for FAIL and WARN.
	Fix string `json:"fix,omitempty"`
}

// Report is the outcome of a run.
type Report struct {
	Domain string  `json:"domain"`
	Host   string  `json:"host"`
	Checks []Check `json:"checks"`
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

// Find returns the first check of that name, or nil.
func (r *Report) Find(name string) *Check {
	for i := range r.Checks {
		if r.Checks[i].Name == name {
			return &r.Checks[i]
		}
	}
	return nil
}

// WriteText writes one line per check, and the fix below a FAIL or WARN.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "diagnosing %s (domain %s)\n", r.Host, r.Domain)
	counts := map[Status]int{}
	for _, c := range r.Checks {
		counts[c.Status]++
		fmt.Fprintf(&b, "%-4s  %-20s %s\n", c.Status, c.Name, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(&b, "      %-20s fix: %s\n", "", c.Fix)
		}
	}
	fmt.Fprintf(&b, "%d passed, %d failed, %d warnings, %d notes\n", counts[Pass], counts[Fail], counts[Warn], counts[Info])
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Options are what to check and how.
type Options struct {
	// Domain is the users' e-mail domain (contoso.com); a host name
	// already starting with enterpriseenrollment. is taken as it is.
	Domain string
	// Connect, if set, is the host:port dialed for the enrollment host
	// instead of what DNS says (a server not yet in DNS, a test on
	// 127.0.0.1); TLS still names the real host.
	Connect string
	// Port is the HTTPS port of the enrollment host. Default 443, the
	// only one Windows uses for discovery.
	Port int
	// Roots verify the server's chain; nil means the system roots.
	Roots *x509.CertPool
	// DeviceCA, if set, is the device CA certificate, whose CRL and AIA
	// URLs are then checked.
	DeviceCA *x509.Certificate
	// Timeout bounds each network operation. Default 10s.
	Timeout time.Duration
	// Now is the clock; nil for time.Now.
	Now func() time.Time
	// LookupHost resolves names; nil for net.DefaultResolver.
	LookupHost func(ctx context.Context, host string) ([]string, error)
}

// HostPrefix is what Windows puts before the user's e-mail domain.
const HostPrefix = "enterpriseenrollment."

// maxBody bounds every body read.
const maxBody = 1 << 20

// expiryWarning is how long before expiry a certificate gets a WARN.
const expiryWarning = 14 * 24 * time.Hour

// Run performs every check in order; a check that others need (DNS, the
// TCP connection, discovery) stops the ones that cannot run without it.
func Run(ctx context.Context, opts Options) *Report {
	d := newRun(opts)
	d.run(ctx)
	return d.report
}

// run is one diagnosis in progress.
type run struct {
	opts   Options
	report *Report
	host   string
	// dialAddr is where the enrollment host is reached (host:port).
	dialAddr string
	now      func() time.Time
	// clientAuth is the enrollment host's handshake: whether it asks for
	// client certificates, and of which CAs.
	clientAuth *handshake
}

func newRun(opts Options) *run {
	if opts.Port == 0 {
		opts.Port = 443
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LookupHost == nil {
		opts.LookupHost = net.DefaultResolver.LookupHost
	}
	domain := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(opts.Domain)), ".")
	host := domain
	if !strings.HasPrefix(host, HostPrefix) {
		host = HostPrefix + domain
	} else {
		domain = strings.TrimPrefix(domain, HostPrefix)
	}
	return &run{opts: opts, host: host, now: opts.Now, report: &Report{Domain: domain, Host: host}}
}

func (d *run) add(name string, st Status, fix string, format string, a ...any) {
	d.report.Checks = append(d.report.Checks, Check{Name: name, Status: st, Detail: fmt.Sprintf(format, a...), Fix: fix})
}

func (d *run) pass(name, format string, a ...any) { d.add(name, Pass, "", format, a...) }
func (d *run) info(name, format string, a ...any) { d.add(name, Info, "", format, a...) }
func (d *run) fail(name, fix, format string, a ...any) {
	d.add(name, Fail, fix, format, a...)
}
func (d *run) warn(name, fix, format string, a ...any) {
	d.add(name, Warn, fix, format, a...)
}

func (d *run) run(ctx context.Context) {
	if !d.checkName() || !d.checkDNS(ctx) {
		return
	}
	if !d.checkTCP(ctx) {
		return
	}
	d.checkPorts(ctx)
	tlsOK := d.checkTLS(ctx)
	if !tlsOK {
		return
	}
	d.checkResumption(ctx)
	disc := d.checkDiscovery(ctx)
	if disc != nil {
		d.checkAnnounced(ctx, disc)
	}
	d.checkManagementPath(ctx)
	d.checkDeviceCA(ctx)
}

// checkName refuses what Windows can never reach: an IP address or a
// name that is not a DNS name.
func (d *run) checkName() bool {
	if d.report.Domain == "" {
		d.fail("name", "give the domain of the users' e-mail addresses, e.g. contoso.com", "no domain given")
		return false
	}
	if net.ParseIP(d.report.Domain) != nil || net.ParseIP(strings.Trim(d.report.Domain, "[]")) != nil {
		d.fail("name", "Windows derives the host from the e-mail domain: give a domain, never an IP (P1)", "%s is an IP address", d.report.Domain)
		return false
	}
	if !validDNSName(d.host) {
		d.fail("name", "use a domain of letters, digits and hyphens", "%s is not a DNS name", d.host)
		return false
	}
	d.pass("name", "Windows looks for https://%s/EnrollmentServer/Discovery.svc for users @%s", d.host, d.report.Domain)
	return true
}

func validDNSName(h string) bool {
	if len(h) > 253 || !strings.Contains(h, ".") {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkDNS resolves the host. With Connect, a name that does not resolve
// here is only noted: the server is reached at the given address (the
// real PC may have a hosts entry).
func (d *run) checkDNS(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	addrs, err := d.opts.LookupHost(ctx, d.host)
	port := fmt.Sprint(d.opts.Port)
	switch {
	case err == nil && len(addrs) > 0:
		d.pass("dns", "%s resolves to %s", d.host, strings.Join(addrs, ", "))
		if d.opts.Connect == "" {
			d.dialAddr = net.JoinHostPort(d.host, port)
		}
	case d.opts.Connect != "":
		d.info("dns", "%s does not resolve here (%v); checking the server at %s as --connect says. Devices need a DNS record (or a hosts entry) for it", d.host, errText(err), d.opts.Connect)
	default:
		d.fail("dns", "create an A/AAAA (or CNAME) record for "+d.host+" pointing at the server; Windows finds the server only by this name",
			"%s does not resolve: %v", d.host, errText(err))
		return false
	}
	if d.opts.Connect != "" {
		d.dialAddr = d.opts.Connect
	}
	return true
}

func errText(err error) string {
	if err == nil {
		return "no addresses"
	}
	return err.Error()
}
