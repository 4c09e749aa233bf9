package tlsresume

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// pki is a client CA with one client certificate, and a server certificate.
type pki struct {
	clientCAs  *x509.CertPool
	caDER      []byte
	client     tls.Certificate
	server     tls.Certificate
	serverRoot *x509.CertPool
}

func newCert(t *testing.T, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	now := time.Now()
	ca, caKey := newCert(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "device CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	leaf, leafKey := newCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "device-1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, caKey)
	srv, srvKey := newCert(t, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "server"},
		DNSNames: []string{"enterpriseenrollment.example.com", "other.example.com"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, nil, nil)
	p := &pki{clientCAs: x509.NewCertPool(), caDER: ca.Raw, serverRoot: x509.NewCertPool()}
	p.clientCAs.AddCert(ca)
	p.serverRoot.AddCert(srv)
	p.client = tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: leafKey, Leaf: leaf}
	p.server = tls.Certificate{Certificate: [][]byte{srv.Raw}, PrivateKey: srvKey, Leaf: srv}
	return p
}

// serverConfig is a device-facing server config as Caddy builds it for
// `client_auth { mode verify_if_given }`: tickets disabled.
func (p *pki) serverConfig(version uint16) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs: p.clientCAs, MinVersion: version, MaxVersion: version, SessionTicketsDisabled: true}
}

func (p *pki) clientConfig(cache tls.ClientSessionCache, serverName string) *tls.Config {
	return &tls.Config{RootCAs: p.serverRoot, Certificates: []tls.Certificate{p.client}, ClientSessionCache: cache,
		ServerName: serverName}
}

// connect runs one connection (handshake, one byte each way, so that a
// TLS 1.3 ticket reaches the client) and returns the server's view of it.
func connect(t *testing.T, server, client *tls.Config) tls.ConnectionState {
	t.Helper()
	state, err := try(t, server, client)
	if err != nil {
		t.Fatal(err)
	}
	return state
}

// try is connect, returning the connection's failure.
func try(t *testing.T, server, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var state tls.ConnectionState
	served := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		srv := tls.Server(conn, server)
		defer srv.Close()
		if err := srv.Handshake(); err != nil {
			served <- err
			return
		}
		state = srv.ConnectionState()
		buf := make([]byte, 1)
		if _, err := io.ReadFull(srv, buf); err != nil {
			served <- err
			return
		}
		_, err = srv.Write([]byte("k"))
		served <- err
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cli := tls.Client(conn, client)
	defer cli.Close()
	_, clientErr := cli.Write([]byte("o"))
	if clientErr == nil {
		_, clientErr = io.ReadFull(cli, make([]byte, 1))
	}
	if serverErr := <-served; serverErr != nil {
		return state, fmt.Errorf("server: %w (client: %v)", serverErr, clientErr)
	}
	if clientErr != nil {
		return state, fmt.Errorf("client: %w", clientErr)
	}
	return state, nil
}

// oneSessionCache offers the one session it holds to any server name: a
// client (or attacker) carrying a ticket to another name.
type oneSessionCache struct {
	mu sync.Mutex
	cs *tls.ClientSessionState
}

func (c *oneSessionCache) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cs, c.cs != nil
}

func (c *oneSessionCache) Put(_ string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs != nil {
		c.cs = cs
	}
}

const host = "enterpriseenrollment.example.com"

func newTickets(t *testing.T, realm string, secret byte, now func() time.Time) *Tickets {
	t.Helper()
	tk, err := New([]byte(realm), bytes.Repeat([]byte{secret}, 32), now)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

var versions = map[string]uint16{"TLS1.2": tls.VersionTLS12, "TLS1.3": tls.VersionTLS13}

func TestResumesWithTheClientCertificate(t *testing.T) {
	p := newPKI(t)
	for name, v := range versions {
		t.Run(name, func(t *testing.T) {
			cfg := p.serverConfig(v)
			newTickets(t, "device CA", 1, nil).Enable(cfg)
			cache := tls.NewLRUClientSessionCache(4)
			first := connect(t, cfg, p.clientConfig(cache, host))
			if first.DidResume {
				t.Fatal("first connection resumed")
			}
			second := connect(t, cfg, p.clientConfig(cache, host))
			if !second.DidResume {
				t.Fatal("second connection did not resume")
			}
			if len(second.PeerCertificates) != 1 || !bytes.Equal(second.PeerCertificates[0].Raw, p.client.Leaf.Raw) {
				t.Fatalf("resumed connection lost the client certificate: %d certificates", len(second.PeerCertificates))
			}
			if len(second.VerifiedChains) == 0 {
				t.Fatal("resumed connection has no verified chain")
			}
		})
	}
}

func TestDisabledConfigStaysDisabledWithoutEnable(t *testing.T) {
	p := newPKI(t)
	cfg := p.serverConfig(tls.VersionTLS13)
	cache := tls.NewLRUClientSessionCache(4)
	connect(t, cfg, p.clientConfig(cache, host))
	if connect(t, cfg, p.clientConfig(cache, host)).DidResume {
		t.Fatal("resumed with tickets disabled")
	}
	if Enabled(cfg) {
		t.Fatal("Enabled on a config that was not enabled")
	}
	newTickets(t, "r", 1, nil).Enable(cfg)
	if !Enabled(cfg) {
		t.Fatal("not Enabled after Enable")
	}
}

func TestTicketDoesNotCrossServerNames(t *testing.T) {
	p := newPKI(t)
	for name, v := range versions {
		t.Run(name, func(t *testing.T) {
			cfg := p.serverConfig(v)
			newTickets(t, "device CA", 1, nil).Enable(cfg)
			cache := new(oneSessionCache)
			connect(t, cfg, p.clientConfig(cache, host))
			if !connect(t, cfg, p.clientConfig(cache, host)).DidResume {
				t.Fatal("same name did not resume")
			}
			if connect(t, cfg, p.clientConfig(cache, "other.example.com")).DidResume {
				t.Fatal("a ticket issued for one server name resumed under another")
			}
		})
	}
}

func TestTicketDoesNotCrossRealms(t *testing.T) {
	p := newPKI(t)
	for name, v := range versions {
		t.Run(name, func(t *testing.T) {
			devices, admins := p.serverConfig(v), p.serverConfig(v)
			newTickets(t, "device CA", 1, nil).Enable(devices)
			newTickets(t, "admin CA", 1, nil).Enable(admins)
			cache := new(oneSessionCache)
			connect(t, devices, p.clientConfig(cache, host))
			if connect(t, admins, p.clientConfig(cache, host)).DidResume {
				t.Fatal("a ticket of one client CA resumed where another is trusted")
			}
		})
	}
}

func TestOtherConfigsCannotReadTheTickets(t *testing.T) {
	p := newPKI(t)
	cfg := p.serverConfig(tls.VersionTLS13)
	newTickets(t, "device CA", 1, nil).Enable(cfg)
	cache := new(oneSessionCache)
	connect(t, cfg, p.clientConfig(cache, host))

	// A config of the same process with Go's own ticket keys, asking for
	// the same certificates.
	plain := p.serverConfig(tls.VersionTLS13)
	plain.SessionTicketsDisabled = false
	if connect(t, plain, p.clientConfig(cache, host)).DidResume {
		t.Fatal("a config with its own ticket keys read the ticket")
	}
	// Tickets of the same realm under another secret (another cluster).
	other := p.serverConfig(tls.VersionTLS13)
	newTickets(t, "device CA", 2, nil).Enable(other)
	if connect(t, other, p.clientConfig(cache, host)).DidResume {
		t.Fatal("a ticket resumed under another secret")
	}
}

func TestNodesSharingTheSecretResumeEachOthersSessions(t *testing.T) {
	p := newPKI(t)
	nodeA, nodeB := p.serverConfig(tls.VersionTLS12), p.serverConfig(tls.VersionTLS12)
	newTickets(t, "device CA", 7, nil).Enable(nodeA)
	newTickets(t, "device CA", 7, nil).Enable(nodeB)
	cache := tls.NewLRUClientSessionCache(4)
	connect(t, nodeA, p.clientConfig(cache, host))
	if !connect(t, nodeB, p.clientConfig(cache, host)).DidResume {
		t.Fatal("node B did not resume node A's session")
	}
}

func TestTicketKeysRotate(t *testing.T) {
	p := newPKI(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	cfg := p.serverConfig(tls.VersionTLS12)
	newTickets(t, "device CA", 1, clock).Enable(cfg)
	cache := new(oneSessionCache)
	connect(t, cfg, p.clientConfig(cache, host))
	advance(KeyPeriod)
	if !connect(t, cfg, p.clientConfig(cache, host)).DidResume {
		t.Fatal("a ticket of the previous key period did not resume")
	}

	fresh := new(oneSessionCache)
	connect(t, cfg, p.clientConfig(fresh, host))
	advance(time.Duration(KeptKeys+1) * KeyPeriod)
	if connect(t, cfg, p.clientConfig(fresh, host)).DidResume {
		t.Fatal("a ticket whose key was dropped still resumed")
	}
}

func TestExpiredClientCertificateDoesNotResume(t *testing.T) {
	p := newPKI(t)
	cfg := p.serverConfig(tls.VersionTLS13)
	newTickets(t, "device CA", 1, nil).Enable(cfg)
	cache := new(oneSessionCache)
	connect(t, cfg, p.clientConfig(cache, host))
	// The server's clock passes the client certificate's NotAfter.
	late := p.serverConfig(tls.VersionTLS13)
	late.Time = func() time.Time { return p.client.Leaf.NotAfter.Add(time.Minute) }
	newTickets(t, "device CA", 1, nil).Enable(late)
	state, err := try(t, late, p.clientConfig(cache, host))
	if err == nil || state.DidResume {
		t.Fatalf("a session resumed after its client certificate expired (err %v)", err)
	}
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("the full handshake failed for another reason: %v", err)
	}
}

func TestNewRefusesWeakInput(t *testing.T) {
	if _, err := New([]byte("r"), make([]byte, 16), nil); err == nil {
		t.Fatal("accepted a 16-byte secret")
	}
	if _, err := New(nil, make([]byte, 32), nil); err == nil {
		t.Fatal("accepted an empty realm")
	}
}
