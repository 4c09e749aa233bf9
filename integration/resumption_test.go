package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"
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

// anyNameCache offers the one session it holds whatever server it dials: a
// client carrying a ticket from one site to another.
type anyNameCache struct {
	mu sync.Mutex
	cs *tls.ClientSessionState
}

func (c *anyNameCache) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cs, c.cs != nil
}

func (c *anyNameCache) Put(_ string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs != nil {
		c.cs = cs
	}
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
		if len(r.TLS.PeerCertificates) == 0 {
			t.Fatal("no server certificate on the resumed connection")
		}
		if st := m.Commands[0]; st.Data != "200" {
			t.Fatalf("resumed session %d not authenticated by the device certificate: %+v", i+2, st)
		}
	}

	// The device's ticket offered to another site trusting the same CA: a
	// full handshake there (the ticket names its server).
	carried := new(anyNameCache)
	s.manage(s.resumingClient(dev.cert, EnrollmentHost, carried), sessionMsg(t, "a-syncml-session1-msg1.xml", "54"))
	if r := s.getOn(s.resumingClient(dev.cert, "other.contoso.com", carried), "other.contoso.com"); r.TLS.DidResume || r.StatusCode != http.StatusOK {
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
