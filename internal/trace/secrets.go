package trace

import (
	"net/url"
	"strings"
)

// What is secret, in one place. Names are compared case-insensitively and
// without namespace prefix.
//
// A name is secret (SecretName) when it contains "password" or "secret"
// (Password, PFXCertPassword, SharedSecret, AAuthSecret, ClientSecret,
// AAUTHSECRET, ...) or is one of secretNames. The rule applies to
//
//   - XML element local names: the content of <wsse:Password>,
//     <keyMaterial> (a WLANProfile) or <a.b:Password> is replaced;
//   - XML attribute local names: the value is replaced;
//   - the name attribute of a provisioning document parm: its value is
//     replaced (AAUTHSECRET, EnrollmentToken, *SECRET*, *PASSWORD*);
//   - the segments of an OMA-DM LocURI (SecretURI): the Data of an Item
//     whose Target or Source names such a node is replaced, in traces, debug
//     logs and the commands and results the admin API shows.
//
// secretPaths adds LocURIs that are secret as a whole although no segment
// says so: a VPNv2 ProfileXML can carry a pre-shared key.
var secretNames = map[string]bool{
	"wlanxml":         true, // ./Vendor/MSFT/WiFi/Profile/<SSID>/WlanXml: holds the Wi-Fi key
	"pfxcertblob":     true, // ClientCertificateInstall: the PFX with its private key
	"presharedkey":    true,
	"keymaterial":     true, // WLANProfile <keyMaterial>, CSP KeyMaterial nodes
	"enrollmenttoken": true, // the company hub enrollment token
}

// secretPaths are runs of LocURI segments (lower case, "*" is any one
// segment) that make a LocURI secret wherever they appear in it
// (./Vendor/MSFT/..., ./User/Vendor/MSFT/..., ./Device/Vendor/MSFT/...).
var secretPaths = [][]string{
	{"vpnv2", "*", "profilexml"},
}

// SecretName reports whether an element, attribute, parm or CSP node name
// names a secret (see secretNames).
func SecretName(name string) bool {
	n := strings.ToLower(localName(name))
	return strings.Contains(n, "password") || strings.Contains(n, "secret") || secretNames[n]
}

// SecretURI reports whether an OMA-DM LocURI names a node whose value is
// secret: one of its segments is a SecretName, or it contains one of the
// secretPaths. A query (?list=...) is ignored; escaped segments are
// compared unescaped too.
func SecretURI(uri string) bool {
	uri, _, _ = strings.Cut(strings.TrimSpace(uri), "?")
	if uri == "" {
		return false
	}
	if secretSegments(uri) {
		return true
	}
	if u, err := url.PathUnescape(uri); err == nil && u != uri {
		return secretSegments(u)
	}
	return false
}

func secretSegments(uri string) bool {
	segs := strings.Split(strings.ToLower(uri), "/")
	for i, s := range segs {
		if SecretName(s) {
			return true
		}
		for _, p := range secretPaths {
			if matchAt(segs[i:], p) {
				return true
			}
		}
	}
	return false
}

func matchAt(segs, pattern []string) bool {
	if len(segs) < len(pattern) {
		return false
	}
	for i, p := range pattern {
		if p != "*" && segs[i] != p {
			return false
		}
	}
	return true
}

// localName strips a namespace prefix (everything up to the last colon).
func localName(name string) string {
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		return name[i+1:]
	}
	return name
}
