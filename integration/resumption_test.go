package integration

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// resumingClient is a device that opens a new connection for every
// request, as Windows does between sessions, and keeps its TLS sessions in
// cache to resume them.
func (s *server) resumingClient(cert tls.Certificate, serverName string, cache tls.ClientSessionCache) *http.Client {
	addr := fmt.Sprintf("127.0.0.1:%d", s.httpsPort)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: s.roots, ServerName: serverName, ClientSessionCache: cache,
			Certificates: []tls.Certificate{cert}},
		DisableKeepAlives: true,
	}}
}

// getOn fetches / on another site of the server.
func (s *server) getOn(c *http.Client, host string) response {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("https://%s:%d/", host, s.httpsPort), nil)
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatalf("%s: %v", host, err)
	}
	defer resp.Body.Close()
	return response{resp, nil}
}

// TestDevicesResumeTLSSessions: a device's second session resumes its TLS
// session and is still authenticated by its certificate; the ticket does
// not open another site, not even one trusting the same CA; a site can
// keep full handshakes; a retired device's resumed session is refused.
func TestDevicesResumeTLSSessions(t *testing.T) {
	s := startCaddyFile(t, filepath.Join("testdata", "resumption.Caddyfile"))
	dev := enrollDevice(t, s, "a-enroll-request.xml", deviceA)

	cache := tls.NewLRUClientSessionCache(8)
	device := s.resumingClient(dev.cert, EnrollmentHost, cache)
	r, m := s.manage(device, sessionMsg(t, "a-syncml-session1-msg1.xml", "51"))
	if r.TLS.DidResume {
		t.Fatal("the first session resumed")
	}
	if st := m.Commands[0]; st.Data != "200" {
		t.Fatalf("first session not authenticated by the certificate: %+v", st)
	}
	for i, session := range []string{"52", "53"} {
		r, m = s.manage(device, sessionMsg(t, "a-syncml-session1-msg1.xml", session))
		if !r.TLS.DidResume {
			t.Fatalf("session %d did not resume its TLS session", i+2)
		}
		if st := m.Commands[0]; st.Data != "200" {
			t.Fatalf("resumed session %d not authenticated by the device certificate: %+v", i+2, st)
		}
	}

	// The ticket keys are in the mdm storage, where every node reads them.
	if keys, _ := filepath.Glob(filepath.Join(s.dataDir(), "mdm", "secrets", "tls-ticket-keys", "*")); len(keys) != 2 {
		t.Errorf("stored ticket keys: %v, want this period's and the next", keys)
	}

	// The device's ticket offered to another site trusting the same CA: a
	// full handshake there (the ticket names its server). The client skips
	// its own check of the server certificate, which would otherwise keep
	// it from offering a session of one name to another.
	carried := new(testpki.AnyNameSessionCache)
	toEnrollment := s.resumingClient(dev.cert, EnrollmentHost, carried)
	toEnrollment.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true
	s.manage(toEnrollment, sessionMsg(t, "a-syncml-session1-msg1.xml", "54"))
	toOther := s.resumingClient(dev.cert, "other.contoso.com", carried)
	toOther.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true
	if r := s.getOn(toOther, "other.contoso.com"); r.TLS.DidResume || r.StatusCode != http.StatusOK {
		t.Fatalf("a ticket of the enrollment site resumed on another site (resumed %v, HTTP %d)", r.TLS.DidResume, r.StatusCode)
	}
	// That site resumes its own sessions.
	other := s.resumingClient(dev.cert, "other.contoso.com", tls.NewLRUClientSessionCache(2))
	s.getOn(other, "other.contoso.com")
	if !s.getOn(other, "other.contoso.com").TLS.DidResume {
		t.Error("a site trusting the device CA did not resume")
	}
	// no_session_resumption keeps full handshakes.
	full := s.resumingClient(dev.cert, "full-handshakes.contoso.com", tls.NewLRUClientSessionCache(2))
	s.getOn(full, "full-handshakes.contoso.com")
	if s.getOn(full, "full-handshakes.contoso.com").TLS.DidResume {
		t.Error("no_session_resumption still resumed")
	}

	// Retired: the resumed session carries the certificate, and the
	// certificate no longer opens a session.
	if r := s.admin(http.MethodPost, "/mdm/devices/"+deviceA+"/retire", `{"reason":"stolen"}`); r.StatusCode != http.StatusOK {
		t.Fatalf("retire: %d %s", r.StatusCode, r.body)
	}
	r, m = s.manage(device, sessionMsg(t, "a-syncml-session1-msg1.xml", "55"))
	if !r.TLS.DidResume {
		t.Fatal("the session after retirement did not resume (nothing proven)")
	}
	if st := m.Commands[0]; st.Data == "200" || st.Data == "212" {
		t.Fatalf("a retired device's resumed session was accepted: %+v", st)
	}
}

// TestResumptionConfigRefusals: mdm_session_resumption written by hand
// where the trust pool is not mdm_device_ca, or where that pool says
// no_session_resumption, is refused when the config loads.
func TestResumptionConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "ecdsa")
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Root.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ pool, want string }{
		"file pool":  {"trust_pool file " + caFile, "needs trust_pool mdm_device_ca"},
		"turned off": {"trust_pool mdm_device_ca {\n\t\t\t\tno_session_resumption\n\t\t\t}", "no_session_resumption"},
	} {
		t.Run(name, func(t *testing.T) {
			config := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".Caddyfile")
			body := "{\n\tskip_install_trust\n\tmdm {\n\t\tauth on_premise {\n\t\t\tuser demo@contoso.com $2a$10$dZYNlhVd.QBD.EjGSM4xTuY5LygfKhyOTKxKsXoPNlKjOgXOfI7n.\n\t\t}\n\t}\n}\n\nenterpriseenrollment.contoso.com {\n\ttls internal {\n\t\tclient_auth {\n\t\t\tmode verify_if_given\n\t\t\t" +
				c.pool + "\n\t\t\tverifier mdm_session_resumption\n\t\t}\n\t}\n\tmdm\n}\n"
			if err := os.WriteFile(config, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(caddyBin, "validate", "--config", config, "--adapter", "caddyfile")
			cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), c.want) {
				t.Fatalf("validate: %v, want a refusal naming %q:\n%s", err, c.want, out)
			}
		})
	}
}
