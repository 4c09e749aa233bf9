package emulator

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

func isIP(host string) bool { return net.ParseIP(host) != nil }

// httpsName reports whether u is an https URL on a DNS name (P1).
func httpsName(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Scheme == "https" && p.Hostname() != "" && !isIP(p.Hostname())
}

// checkTLSName checks P1: the server certificate names the host exactly,
// not through a wildcard.
func checkTLSName(r *Report, e *exchange, host string) {
	if e.resp.TLS == nil || len(e.resp.TLS.PeerCertificates) == 0 {
		r.check("P1 served over TLS", false, "no TLS")
		return
	}
	leaf := e.resp.TLS.PeerCertificates[0]
	exact := false
	for _, n := range leaf.DNSNames {
		if strings.EqualFold(n, host) {
			exact = true
		}
	}
	r.check("P1 TLS certificate names "+host+" exactly (no wildcard)", exact, "names %v", leaf.DNSNames)
}

// versionLE compares "major.minor" versions.
func versionLE(a, b string) bool {
	pa, pb := splitVersion(a), splitVersion(b)
	return pa[0] < pb[0] || pa[0] == pb[0] && pa[1] <= pb[1]
}

func splitVersion(v string) [2]int {
	maj, min, _ := strings.Cut(v, ".")
	a, _ := strconv.Atoi(maj)
	b, _ := strconv.Atoi(min)
	return [2]int{a, b}
}

// errText is an error's text, or "" for none.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
