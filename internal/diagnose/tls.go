package diagnose

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"time"
)

// dial opens a TCP connection to the enrollment host (or another host's
// address).
func (d *run) dial(ctx context.Context, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
}

// checkTCP is the port Windows connects to.
func (d *run) checkTCP(ctx context.Context) bool {
	c, err := d.dial(ctx, d.dialAddr)
	if err != nil {
		d.fail("connect", fmt.Sprintf("start the server and let port %d through every firewall between the devices and it (Caddy: https_port %d); check the address %s", d.opts.Port, d.opts.Port, d.dialAddr),
			"nothing answers at %s: %v", d.dialAddr, err)
		return false
	}
	c.Close()
	d.pass("connect", "%s accepts connections (port %d for %s)", d.dialAddr, d.opts.Port, d.host)
	return true
}

// handshake is what one TLS handshake showed.
type handshake struct {
	state tls.ConnectionState
	// clientCAs are the CA names the server asks client certificates of
	// (the device CA), if it asks.
	clientCAs    [][]byte
	askedForCert bool
}

// tlsHandshake connects with SNI serverName and takes whatever chain the
// server presents: the checks judge it, with x509, afterwards.
func (d *run) tlsHandshake(ctx context.Context, addr, serverName string, maxVersion uint16, sessions tls.ClientSessionCache) (*handshake, error) {
	raw, err := d.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	hs := &handshake{}
	cfg := &tls.Config{
		ServerName: serverName,
		// Verification is done by checkTLS with crypto/x509, so that each
		// problem is reported on its own line instead of one handshake error.
		InsecureSkipVerify: true, //nolint:gosec
		MaxVersion:         maxVersion,
		ClientSessionCache: sessions,
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			hs.askedForCert = true
			hs.clientCAs = cri.AcceptableCAs
			return &tls.Certificate{}, nil
		},
	}
	conn := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	if err := conn.HandshakeContext(hctx); err != nil {
		return nil, err
	}
	hs.state = conn.ConnectionState()
	return hs, nil
}

// checkTLS judges the certificate the enrollment host presents: its name
// (exactly the host, P1), its chain, its expiry, and TLS 1.2 (what
// Windows 10 speaks).
func (d *run) checkTLS(ctx context.Context) bool {
	hs, err := d.tlsHandshake(ctx, d.dialAddr, d.host, 0, nil)
	if err != nil {
		d.fail("tls", "serve HTTPS for "+d.host+" on this port (a Caddy site named "+d.host+")", "TLS handshake with %s failed: %v", d.dialAddr, err)
		return false
	}
	d.pass("tls", "handshake with SNI %s: %s, %s", d.host, tls.VersionName(hs.state.Version), tls.CipherSuiteName(hs.state.CipherSuite))
	chain := hs.state.PeerCertificates
	if len(chain) == 0 {
		d.fail("tls-name", "configure a certificate for "+d.host, "the server presented no certificate")
		return false
	}
	leaf := chain[0]
	d.checkCertName(leaf)
	d.checkChain(chain)
	d.checkExpiry(chain)
	d.checkRevocationURLs(ctx, "server", chain)
	if v12, err := d.tlsHandshake(ctx, d.dialAddr, d.host, tls.VersionTLS12, nil); err != nil || v12.state.Version != tls.VersionTLS12 {
		d.fail("tls-1.2", "allow TLS 1.2 (Caddy's default protocols tls1.2 tls1.3): Windows 10 enrollment speaks TLS 1.2", "TLS 1.2 refused: %v", errText(err))
	} else {
		d.pass("tls-1.2", "TLS 1.2 accepted, as Windows 10 needs")
	}
	d.clientAuth = hs
	return true
}

// checkResumption connects twice over TLS 1.2, as Windows 10 does, and
// says whether the second connection resumed the first's session: if not,
// every poll of every device pays a full handshake.
func (d *run) checkResumption(ctx context.Context) {
	sessions := tls.NewLRUClientSessionCache(1)
	_, err := d.tlsHandshake(ctx, d.dialAddr, d.host, tls.VersionTLS12, sessions)
	var again *handshake
	if err == nil {
		again, err = d.tlsHandshake(ctx, d.dialAddr, d.host, tls.VersionTLS12, sessions)
	}
	switch {
	case err != nil:
		d.warn("tls-resumption", "check the TLS handshake above", "could not try resuming a TLS 1.2 session: %v", err)
	case again.state.DidResume:
		d.pass("tls-resumption", "a TLS 1.2 session resumes: a device's polls after the first skip the full handshake")
	default:
		d.warn("tls-resumption", "let devices resume TLS sessions: caddy-mdm's trust_pool mdm_device_ca turns session tickets on for its site (unless no_session_resumption); check the log for why it stayed off, and that nothing in front of Caddy terminates TLS",
			"the server did not resume a TLS 1.2 session: every poll of every device pays a full handshake")
	}
}

// checkCertName is pitfall P1: the certificate must name the host itself; a
// wildcard that would cover it is not enough for Windows.
func (d *run) checkCertName(leaf *x509.Certificate) {
	names := leaf.DNSNames
	for _, n := range names {
		if strings.EqualFold(n, d.host) {
			d.pass("tls-name", "the certificate names %s exactly", d.host)
			return
		}
	}
	fix := "get a certificate whose subject alternative names include " + d.host + " itself (a Caddy site named " + d.host + " does this)"
	if leaf.VerifyHostname(d.host) == nil {
		d.fail("tls-name", fix, "the certificate covers %s only by a wildcard (%s): Windows enrollment needs the exact name (P1)", d.host, strings.Join(names, ", "))
		return
	}
	d.fail("tls-name", fix, "the certificate does not name %s (it names %s)", d.host, orNone(names))
}

// checkChain verifies the chain with crypto/x509, against Options.Roots
// or the system roots.
func (d *run) checkChain(chain []*x509.Certificate) {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         d.opts.Roots,
		Intermediates: inter,
		CurrentTime:   d.now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	roots := "the system roots"
	if d.opts.Roots != nil {
		roots = "the --root certificates"
	}
	if err != nil {
		d.fail("tls-chain", "serve the full chain (leaf and intermediates) from a CA the devices trust; for a private CA (Caddy's internal one) install its root on every PC (certutil -addstore Root root.crt) and check with --root",
			"the chain does not verify against %s: %v", roots, err)
		return
	}
	d.pass("tls-chain", "the chain (%d presented, leaf issued by %s) verifies against %s", len(chain), chain[0].Issuer, roots)
}

// checkExpiry looks at every certificate of the chain.
func (d *run) checkExpiry(chain []*x509.Certificate) {
	now := d.now()
	first := chain[0]
	for _, c := range chain[1:] {
		if c.NotAfter.Before(first.NotAfter) {
			first = c
		}
	}
	left := first.NotAfter.Sub(now)
	// Short-lived certificates (Caddy's internal CA issues 12-hour ones,
	// renewed when a third is left) are only late past half their renewal
	// window; others when two weeks are left.
	warnAt := min(expiryWarning, first.NotAfter.Sub(first.NotBefore)/6)
	switch {
	case now.Before(chain[0].NotBefore):
		d.fail("tls-expiry", "check the server's clock, or wait", "the certificate is not valid before %s", chain[0].NotBefore.UTC().Format(time.RFC3339))
	case left <= 0:
		d.fail("tls-expiry", "renew the certificate (Caddy renews automatically: see its logs for why it could not)", "%s expired on %s", certName(first), first.NotAfter.UTC().Format(time.RFC3339))
	case left < warnAt:
		d.warn("tls-expiry", "renew it soon (Caddy renews automatically: see its logs if this does not change)", "%s expires in %s (%s)", certName(first), roundDays(left), first.NotAfter.UTC().Format(time.RFC3339))
	default:
		d.pass("tls-expiry", "valid until %s (%s)", first.NotAfter.UTC().Format(time.RFC3339), roundDays(left))
	}
}

// certName names a certificate by its subject, or its first DNS name
// (Caddy's leaf certificates have an empty subject).
func certName(c *x509.Certificate) string {
	if s := c.Subject.String(); s != "" {
		return s
	}
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return "the certificate"
}

func roundDays(d time.Duration) string {
	if d < 48*time.Hour {
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "no DNS name"
	}
	return strings.Join(s, ", ")
}
