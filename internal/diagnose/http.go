package diagnose

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

// discoverRequest is the Discover a real Windows 10 (19043) PC sent,
// byte for byte (testdata/windows10-19043/a-discovery-request.xml, from
// fleetdm/fleet's MIT-licensed captures); its e-mail address, a:To and
// MessageID are replaced for the domain checked.
//
//go:embed discover-request.xml
var discoverRequest string

// Standard service paths, as Windows calls them.
const (
	discoveryPath  = "/EnrollmentServer/Discovery.svc"
	managementPath = "/ManagementServer/MDM.svc"
)

// Clock skew limits: the server backdates device certificates by a few
// minutes and its WS-Security timestamps last five.
const (
	skewWarn = time.Minute
	skewFail = 5 * time.Minute
)

// client returns an HTTP client that reaches the enrollment host at
// dialAddr (other hosts as DNS says), never follows redirects (a device
// does not either for the SOAP services), and leaves certificate checks to
// checkTLS and checkEndpoint.
func (d *run) client() *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			if strings.EqualFold(host, d.host) {
				addr = d.dialAddr
			}
			return (&net.Dialer{Timeout: d.opts.Timeout}).DialContext(ctx, network, addr)
		},
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // judged by checkTLS
		TLSHandshakeTimeout:   d.opts.Timeout,
		ResponseHeaderTimeout: d.opts.Timeout,
		DisableKeepAlives:     true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       d.opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// siteURL is the URL of a path on the enrollment host, as Windows writes
// it (no port when 443).
func (d *run) siteURL(path string) string {
	if d.opts.Port == 443 {
		return "https://" + d.host + path
	}
	return "https://" + net.JoinHostPort(d.host, strconv.Itoa(d.opts.Port)) + path
}

// fetched is a response read whole, within maxBody.
type fetched struct {
	*http.Response
	body []byte
}

func (d *run) do(ctx context.Context, method, u, contentType string, body []byte) (*fetched, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "ENROLLClient")
	resp, err := d.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("answer larger than %d bytes", maxBody)
	}
	return &fetched{resp, b}, nil
}

// discovered is what discovery announced.
type discovered struct {
	AuthPolicy, EnrollmentVersion     string
	PolicyURL, EnrollmentURL, AuthURL string
	policyPresent, authServicePresent bool
}

// checkDiscovery GETs the discovery URL (Windows probes it first), then
// POSTs a real Windows 10 Discover and reads the answer.
func (d *run) checkDiscovery(ctx context.Context) *discovered {
	u := d.siteURL(discoveryPath)
	get, err := d.do(ctx, http.MethodGet, u, "", nil)
	switch {
	case err != nil:
		d.fail("discovery-get", "serve the mdm handlers on "+d.host+" (the `mdm` directive in its site)", "GET %s: %v", u, err)
	case get.StatusCode != http.StatusOK:
		d.fail("discovery-get", "serve the mdm handlers on "+d.host+" at "+discoveryPath+" (the `mdm` directive in its site), without redirects or authentication in front",
			"GET %s answered %s; Windows wants 200", u, get.Status)
	default:
		d.pass("discovery-get", "GET %s answered 200", u)
	}
	if get != nil {
		d.checkClock(get.Header.Get("Date"))
	}

	post, err := d.do(ctx, http.MethodPost, u, "application/soap+xml; charset=utf-8", d.discoverBody())
	if err != nil {
		d.fail("discovery-post", "serve the mdm handlers on "+d.host, "POST %s: %v", u, err)
		return nil
	}
	fix := "serve the mdm handlers on " + d.host + " at " + discoveryPath + " (the `mdm` directive), nothing in front that rewrites or compresses SOAP; the server's log line `request refused` says more"
	if post.StatusCode != http.StatusOK {
		d.fail("discovery-post", fix, "POST %s answered %s: %s", u, post.Status, oneLine(post.body))
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(post.Header.Get("Content-Type")); mt != "application/soap+xml" {
		d.fail("discovery-post", fix, "the answer is %q, not application/soap+xml", post.Header.Get("Content-Type"))
		return nil
	}
	if post.ContentLength < 0 || len(post.TransferEncoding) > 0 || post.Header.Get("Content-Encoding") != "" {
		d.warn("discovery-framing", "send SOAP answers whole, with Content-Length, uncompressed (caddy-mdm does: check what is in front of it)",
			"the answer is chunked or encoded (Content-Length %d, Transfer-Encoding %v, Content-Encoding %q)", post.ContentLength, post.TransferEncoding, post.Header.Get("Content-Encoding"))
	}
	disc, err := parseDiscoverResponse(post.body)
	if err != nil {
		d.fail("discovery-post", fix, "the answer is not a DiscoverResponse: %v", err)
		return nil
	}
	d.pass("discovery-post", "a Windows 10 Discover is answered: AuthPolicy %s, EnrollmentVersion %s", disc.AuthPolicy, disc.EnrollmentVersion)
	return disc
}

// discoverBody is the captured request for this domain.
func (d *run) discoverBody() []byte {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	h := hex.EncodeToString(id)
	to := "https://" + strings.Replace(d.host, "enterpriseenrollment.", "EnterpriseEnrollment.", 1) + ":" + strconv.Itoa(d.opts.Port) + discoveryPath
	r := strings.NewReplacer(
		"demo@mdmwindows.com", "diagnose@"+d.report.Domain,
		"https://EnterpriseEnrollment.mdmwindows.com:443"+discoveryPath, to,
		"urn:uuid:748132ec-a575-4329-b01b-6171a9cf8478", "urn:uuid:"+h[:8]+"-"+h[8:12]+"-"+h[12:16]+"-"+h[16:20]+"-"+h[20:],
	)
	return []byte(r.Replace(discoverRequest))
}

func parseDiscoverResponse(body []byte) (*discovered, error) {
	env, err := soap.Parse(body)
	if err != nil {
		return nil, err
	}
	if env.Body == nil {
		return nil, errors.New("empty SOAP body")
	}
	if strings.EqualFold(env.Body.Tag, "Fault") {
		return nil, fmt.Errorf("fault %s: %s", soap.Text(soap.Path(env.Body, "Code", "Subcode", "Value")), soap.Text(soap.Path(env.Body, "Reason", "Text")))
	}
	res := soap.Path(env.Body, "DiscoverResult")
	if res == nil {
		return nil, fmt.Errorf("no DiscoverResult in %s", env.Body.Tag)
	}
	disc := &discovered{
		AuthPolicy:        soap.Text(soap.Child(res, "AuthPolicy")),
		EnrollmentVersion: soap.Text(soap.Child(res, "EnrollmentVersion")),
		PolicyURL:         soap.Text(soap.Child(res, "EnrollmentPolicyServiceUrl")),
		EnrollmentURL:     soap.Text(soap.Child(res, "EnrollmentServiceUrl")),
		AuthURL:           soap.Text(soap.Child(res, "AuthenticationServiceUrl")),
	}
	disc.policyPresent = soap.Child(res, "EnrollmentPolicyServiceUrl") != nil
	disc.authServicePresent = soap.Child(res, "AuthenticationServiceUrl") != nil
	if disc.AuthPolicy == "" || disc.EnrollmentURL == "" {
		return nil, errors.New("DiscoverResult lacks AuthPolicy or EnrollmentServiceUrl")
	}
	return disc, nil
}

// checkClock compares the server's Date header with this machine's
// clock: a server ahead of the devices issues certificates not yet valid.
func (d *run) checkClock(date string) {
	t, err := http.ParseTime(date)
	if err != nil {
		d.info("clock", "the server sent no readable Date header (%q): clock skew not checked", date)
		return
	}
	skew := t.Sub(d.now())
	abs := skew
	if abs < 0 {
		abs = -abs
	}
	what := fmt.Sprintf("the server's clock is %s %s this machine's (limit %s)", abs.Round(time.Second), map[bool]string{true: "ahead of", false: "behind"}[skew > 0], skewWarn)
	if abs <= 2*time.Second {
		what = "the server's clock agrees with this machine's (to the Date header's second)"
	}
	fix := "run NTP (e.g. systemd-timesyncd, chrony) on the server, and check this machine's clock too"
	switch {
	case abs > skewFail:
		d.fail("clock", fix, "%s: devices see certificates not yet valid and timestamps out of range", what)
	case abs > skewWarn:
		d.warn("clock", fix, "%s", what)
	default:
		d.pass("clock", "%s", what)
	}
}

// checkAnnounced checks each URL discovery announced: HTTPS, a DNS name,
// a certificate naming it, and something serving it.
func (d *run) checkAnnounced(ctx context.Context, disc *discovered) {
	if disc.policyPresent || disc.PolicyURL != "" {
		d.checkEndpoint(ctx, "policy-url", disc.PolicyURL, http.StatusMethodNotAllowed)
	}
	d.checkEndpoint(ctx, "enrollment-url", disc.EnrollmentURL, http.StatusMethodNotAllowed)
	if strings.EqualFold(disc.AuthPolicy, "Federated") {
		if disc.AuthURL == "" {
			d.fail("auth-service-url", "configure authentication_service_url (auth federated)", "AuthPolicy Federated without an AuthenticationServiceUrl")
		} else {
			d.checkEndpoint(ctx, "auth-service-url", d.loginURL(disc.AuthURL), http.StatusOK)
		}
	}
}

// loginURL is the AuthenticationServiceUrl as Windows opens it in its web
// view: with the app to return to (appru) and the user's address.
func (d *run) loginURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set("appru", "ms-app://windows.immersivecontrolpanel")
	q.Set("login_hint", "diagnose@"+d.report.Domain)
	u.RawQuery = q.Encode()
	return u.String()
}

// checkEndpoint checks one announced URL; want is the status its service
// answers a GET with (the SOAP services only take POST: 405).
func (d *run) checkEndpoint(ctx context.Context, name, raw string, want int) {
	u, err := url.Parse(raw)
	fixURL := "announce an absolute https:// URL on a DNS name (base_url, policy_url, enrollment_url in the mdm global option)"
	switch {
	case err != nil || raw == "":
		d.fail(name, fixURL, "discovery announced %q: not a URL", raw)
		return
	case u.Scheme != "https":
		d.fail(name, fixURL, "%s is not HTTPS: Windows enrolls over HTTPS only", raw)
		return
	case net.ParseIP(strings.Trim(u.Hostname(), "[]")) != nil:
		d.fail(name, fixURL, "%s names an IP address: Windows needs a DNS name whose certificate names it (P1)", raw)
		return
	}
	host := strings.ToLower(u.Hostname())
	if port := u.Port(); port != "" && port != "443" {
		d.warn(name+"-port", "serve it on 443, or make sure devices reach port "+port+" through their firewalls and proxies",
			"%s uses port %s; Windows devices are usually only let out on 443", raw, port)
	}
	if host != d.host {
		// Another host: its own certificate must name it.
		addr := net.JoinHostPort(host, portOr(u.Port(), "443"))
		hs, err := d.tlsHandshake(ctx, addr, host, 0, nil)
		if err != nil {
			d.fail(name, "make "+host+" reachable over HTTPS from the devices", "%s: TLS to %s failed: %v", raw, addr, err)
			return
		}
		if leaf := hs.state.PeerCertificates[0]; !namesExactly(leaf.DNSNames, host) {
			d.fail(name, "get a certificate naming "+host+" exactly", "the certificate of %s does not name it exactly (%s; P1)", host, orNone(leaf.DNSNames))
			return
		}
	}
	r, err := d.do(ctx, http.MethodGet, raw, "", nil)
	switch {
	case err != nil:
		d.fail(name, "make the URL reachable from the devices", "%s: %v", raw, err)
	case r.StatusCode == want:
		d.pass(name, "%s is HTTPS on a DNS name and answers (%s to a GET)", raw, r.Status)
	case r.StatusCode == http.StatusNotFound || r.StatusCode >= 500:
		d.fail(name, "serve the service at that path (the `mdm` directive serves every standard path), or announce where it is", "%s answered %s to a GET; want %d", raw, r.Status, want)
	default:
		d.warn(name, "check what serves this URL: the service would answer "+strconv.Itoa(want), "%s answered %s to a GET", raw, r.Status)
	}
}

// checkManagementPath probes the standard OMA-DM path: its URL is in the
// provisioning document, which needs credentials, so a service elsewhere
// (management_url) is only noted.
func (d *run) checkManagementPath(ctx context.Context) {
	u := d.siteURL(managementPath)
	r, err := d.do(ctx, http.MethodGet, u, "", nil)
	if err == nil && r.StatusCode == http.StatusMethodNotAllowed {
		d.pass("management-url", "%s answers (405 to a GET: OMA-DM messages are POSTed); the URL devices use is in their provisioning document (caddy mdm emulate checks it with credentials)", u)
		return
	}
	status := "no answer"
	if err == nil {
		status = r.Status
	}
	d.info("management-url", "%s: %s. Fine if management_url points elsewhere; the URL devices use is in their provisioning document (caddy mdm emulate checks it with credentials)", u, status)
}

// checkPorts says which ports Windows uses: 443 for every service
// (discovery always, on enterpriseenrollment.<domain>); 80 never, though
// Caddy uses it for HTTP-to-HTTPS redirects and ACME HTTP challenges.
func (d *run) checkPorts(ctx context.Context) {
	if d.opts.Port != 443 {
		d.warn("ports", "serve discovery on port 443: Windows builds https://"+d.host+"/EnrollmentServer/Discovery.svc with no port",
			"checked port %d, but Windows discovers on 443 only", d.opts.Port)
		return
	}
	if d.opts.Connect != "" {
		d.info("ports", "Windows uses port 443 only (reached here at %s); port 80 not checked with --connect (Windows never uses it; Caddy's ACME HTTP challenge does)", d.opts.Connect)
		return
	}
	c, err := d.dial(ctx, net.JoinHostPort(d.host, "80"))
	if err != nil {
		d.info("ports", "Windows uses port 443 only; port 80 is closed (fine for devices; Caddy then needs the TLS-ALPN or DNS challenge to get certificates)")
		return
	}
	c.Close()
	d.info("ports", "Windows uses port 443 only; port 80 is open too (Caddy's HTTP-to-HTTPS redirect and ACME HTTP challenge)")
}

func portOr(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

func namesExactly(names []string, host string) bool {
	for _, n := range names {
		if strings.EqualFold(n, host) {
			return true
		}
	}
	return false
}

// oneLine shortens a body for a check line.
func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}
