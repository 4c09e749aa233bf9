package tlsresume

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
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

const host = "enterpriseenrollment.example.com"

// memKeys is a KeyStore in memory: one per cluster.
type memKeys struct {
	mu   sync.Mutex
	keys map[int64][]byte
}

func newMemKeys() *memKeys { return &memKeys{keys: map[int64][]byte{}} }

func (s *memKeys) PeriodKey(_ context.Context, period int64, create bool) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[period]; ok {
		return k, nil
	}
	if !create {
		return nil, fs.ErrNotExist
	}
	k := make([]byte, KeySize)
	rand.Read(k)
	s.keys[period] = k
	return k, nil
}

func (s *memKeys) DropPeriodKey(_ context.Context, period int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, period)
	return nil
}

func (s *memKeys) has(period int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.keys[period]
	return ok
}

// rotated is the keys of store, rotated once.
func rotated(t *testing.T, store KeyStore, now func() time.Time) *Keys {
	t.Helper()
	k := NewKeys(store, now)
	if err := k.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return k
}

func enable(t *testing.T, cfg *tls.Config, keys *Keys, realm string) {
	t.Helper()
	if err := Enable(cfg, keys, []byte(realm)); err != nil {
		t.Fatal(err)
	}
}

var versions = map[string]uint16{"TLS1.2": tls.VersionTLS12, "TLS1.3": tls.VersionTLS13}

func TestResumesWithTheClientCertificate(t *testing.T) {
	p := newPKI(t)
	for name, v := range versions {
		t.Run(name, func(t *testing.T) {
			cfg := p.serverConfig(v)
			enable(t, cfg, rotated(t, newMemKeys(), nil), "device CA")
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

func TestCaddysDefaultDoesNotResume(t *testing.T) {
	p := newPKI(t)
	cfg := p.serverConfig(tls.VersionTLS13)
	cache := tls.NewLRUClientSessionCache(4)
	connect(t, cfg, p.clientConfig(cache, host))
	if connect(t, cfg, p.clientConfig(cache, host)).DidResume {
		t.Fatal("resumed with tickets disabled")
	}
}

func TestTicketDoesNotCrossServerNames(t *testing.T) {
	p := newPKI(t)
	for name, v := range versions {
		t.Run(name, func(t *testing.T) {
			cfg := p.serverConfig(v)
			enable(t, cfg, rotated(t, newMemKeys(), nil), "device CA")
			cache := new(testpki.AnyNameSessionCache)
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
			keys := rotated(t, newMemKeys(), nil)
			devices, admins := p.serverConfig(v), p.serverConfig(v)
			enable(t, devices, keys, "device CA")
			enable(t, admins, keys, "admin CA")
			cache := new(testpki.AnyNameSessionCache)
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
	enable(t, cfg, rotated(t, newMemKeys(), nil), "device CA")
	cache := new(testpki.AnyNameSessionCache)
	connect(t, cfg, p.clientConfig(cache, host))

	// A config of the same process with Go's own ticket keys (as Caddy's
	// sites without client certificates have), asking for the same
	// certificates.
	plain := p.serverConfig(tls.VersionTLS13)
	plain.SessionTicketsDisabled = false
	if connect(t, plain, p.clientConfig(cache, host)).DidResume {
		t.Fatal("a config with its own ticket keys read the ticket")
	}
	// The same realm with another cluster's keys.
	other := p.serverConfig(tls.VersionTLS13)
	enable(t, other, rotated(t, newMemKeys(), nil), "device CA")
	if connect(t, other, p.clientConfig(cache, host)).DidResume {
		t.Fatal("a ticket resumed under another cluster's keys")
	}
}

func TestNodesSharingTheKeyStoreResumeEachOthersSessions(t *testing.T) {
	p := newPKI(t)
	store := newMemKeys()
	nodeA, nodeB := p.serverConfig(tls.VersionTLS12), p.serverConfig(tls.VersionTLS12)
	enable(t, nodeA, rotated(t, store, nil), "device CA")
	enable(t, nodeB, rotated(t, store, nil), "device CA")
	cache := tls.NewLRUClientSessionCache(4)
	connect(t, nodeA, p.clientConfig(cache, host))
	if !connect(t, nodeB, p.clientConfig(cache, host)).DidResume {
		t.Fatal("node B did not resume node A's session")
	}
}

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestTicketKeysRotateAndOldOnesAreDeleted(t *testing.T) {
	p := newPKI(t)
	clk := &clock{now: time.Now()}
	store := newMemKeys()
	keys := rotated(t, store, clk.Now)
	first := Period(clk.Now())
	if !store.has(first) || !store.has(first+1) {
		t.Fatal("the current and next period keys were not made")
	}
	cfg := p.serverConfig(tls.VersionTLS12)
	enable(t, cfg, keys, "device CA")
	cache := new(testpki.AnyNameSessionCache)
	connect(t, cfg, p.clientConfig(cache, host))

	clk.advance(KeyPeriod)
	if !keys.Due() {
		t.Fatal("not due after a period")
	}
	// A node at the next period (another node, or this one rotated)
	// still reads the ticket.
	if err := keys.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if keys.Due() {
		t.Fatal("due right after rotating")
	}
	if !connect(t, cfg, p.clientConfig(cache, host)).DidResume {
		t.Fatal("a ticket of the previous key period did not resume")
	}

	fresh := new(testpki.AnyNameSessionCache)
	connect(t, cfg, p.clientConfig(fresh, host))
	clk.advance(time.Duration(KeptKeys+1) * KeyPeriod)
	if err := keys.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if connect(t, cfg, p.clientConfig(fresh, host)).DidResume {
		t.Fatal("a ticket whose key was dropped still resumed")
	}
	if store.has(first) || store.has(first+1) {
		t.Fatal("keys out of use are still stored")
	}
}

func TestExpiredClientCertificateDoesNotResume(t *testing.T) {
	p := newPKI(t)
	keys := rotated(t, newMemKeys(), nil)
	cfg := p.serverConfig(tls.VersionTLS13)
	enable(t, cfg, keys, "device CA")
	cache := new(testpki.AnyNameSessionCache)
	connect(t, cfg, p.clientConfig(cache, host))
	// The server's clock passes the client certificate's NotAfter.
	late := p.serverConfig(tls.VersionTLS13)
	late.Time = func() time.Time { return p.client.Leaf.NotAfter.Add(time.Minute) }
	enable(t, late, keys, "device CA")
	state, err := try(t, late, p.clientConfig(cache, host))
	if err == nil || state.DidResume {
		t.Fatalf("a session resumed after its client certificate expired (err %v)", err)
	}
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("the full handshake failed for another reason: %v", err)
	}
}

func TestEnableRefuses(t *testing.T) {
	cfg := new(tls.Config)
	if err := Enable(cfg, rotated(t, newMemKeys(), nil), nil); err == nil {
		t.Fatal("accepted an empty realm")
	}
	if err := Enable(cfg, NewKeys(newMemKeys(), nil), []byte("r")); err == nil {
		t.Fatal("accepted keys never rotated")
	}
	if cfg.WrapSession != nil || cfg.UnwrapSession != nil {
		t.Fatal("a refused Enable changed the config")
	}
}

// failingStore fails to make keys, as a storage outage does.
type failingStore struct{}

func (failingStore) PeriodKey(context.Context, int64, bool) ([]byte, error) {
	return nil, errors.New("storage down")
}
func (failingStore) DropPeriodKey(context.Context, int64) error { return nil }

func TestRotateFailureKeepsTheKeysInUse(t *testing.T) {
	p := newPKI(t)
	store := newMemKeys()
	keys := rotated(t, store, nil)
	cfg := p.serverConfig(tls.VersionTLS13)
	enable(t, cfg, keys, "device CA")
	cache := new(testpki.AnyNameSessionCache)
	connect(t, cfg, p.clientConfig(cache, host))
	keys.store = failingStore{}
	if err := keys.Rotate(context.Background()); err == nil {
		t.Fatal("Rotate hid a storage failure")
	}
	if !connect(t, cfg, p.clientConfig(cache, host)).DidResume {
		t.Fatal("a failed rotation dropped the keys in use")
	}
}

// TestStaleKeysStopResumption: while rotations fail, the keys in use keep
// resuming sessions through the next period, then no session resumes and
// the tickets issued meanwhile never will, even once rotation works again.
func TestStaleKeysStopResumption(t *testing.T) {
	p := newPKI(t)
	for name, v := range versions {
		t.Run(name, func(t *testing.T) {
			clk := &clock{now: time.Now()}
			store := newMemKeys()
			keys := rotated(t, store, clk.Now)
			cfg := p.serverConfig(v)
			enable(t, cfg, keys, "device CA")
			cache := new(testpki.AnyNameSessionCache)
			connect(t, cfg, p.clientConfig(cache, host))

			keys.store = failingStore{}
			clk.advance(KeyPeriod)
			if err := keys.Rotate(context.Background()); err == nil {
				t.Fatal("Rotate hid a storage failure")
			}
			if !connect(t, cfg, p.clientConfig(cache, host)).DidResume {
				t.Fatal("keys one period old stopped resuming")
			}
			clk.advance(KeyPeriod)
			_ = keys.Rotate(context.Background())
			if connect(t, cfg, p.clientConfig(cache, host)).DidResume {
				t.Fatal("keys two periods past their rotation still resumed a session")
			}
			// The ticket that connection left was made while stale.
			keys.store = store
			if err := keys.Rotate(context.Background()); err != nil {
				t.Fatal(err)
			}
			if connect(t, cfg, p.clientConfig(cache, host)).DidResume {
				t.Fatal("a ticket issued with stale keys resumed")
			}
			if !connect(t, cfg, p.clientConfig(cache, host)).DidResume {
				t.Fatal("no resumption after a successful rotation")
			}
		})
	}
}

func TestTLS12SessionEndsAfterMaxAgeThoughResumedMeanwhile(t *testing.T) {
	p := newPKI(t)
	clk := &clock{now: time.Now()}
	keys := rotated(t, newMemKeys(), clk.Now)
	cfg := p.serverConfig(tls.VersionTLS12)
	enable(t, cfg, keys, "device CA")
	cache := tls.NewLRUClientSessionCache(4)
	connect(t, cfg, p.clientConfig(cache, host))
	for age := KeyPeriod; age < MaxSessionAge; age += KeyPeriod {
		clk.advance(KeyPeriod)
		if err := keys.Rotate(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !connect(t, cfg, p.clientConfig(cache, host)).DidResume {
			t.Fatalf("a session %s old did not resume", age)
		}
	}
	clk.advance(KeyPeriod)
	if err := keys.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if connect(t, cfg, p.clientConfig(cache, host)).DidResume {
		t.Fatalf("a TLS 1.2 session resumed %s after its full handshake, its ticket renewed at each poll", MaxSessionAge)
	}
}

// captureSession runs one connection through b and returns the session
// state b wrapped into the client's ticket.
func captureSession(t *testing.T, p *pki, keys *Keys, version uint16) (*binding, *tls.SessionState) {
	t.Helper()
	cfg := p.serverConfig(version)
	enable(t, cfg, keys, "device CA")
	var mu sync.Mutex
	var got *tls.SessionState
	wrap := cfg.WrapSession
	cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		b, err := wrap(cs, ss)
		mu.Lock()
		got = ss
		mu.Unlock()
		return b, err
	}
	connect(t, cfg, p.clientConfig(tls.NewLRUClientSessionCache(2), host))
	mu.Lock()
	defer mu.Unlock()
	if got == nil {
		t.Fatal("no ticket issued")
	}
	return &binding{keys: keys, realm: []byte("device CA")}, got
}

func TestUnwrapRefusesEarlyDataOfAnyTicket(t *testing.T) {
	p := newPKI(t)
	keys := rotated(t, newMemKeys(), nil)
	b, ss := captureSession(t, p, keys, tls.VersionTLS13)
	// A ticket minted allowing early data (as tickets without this package
	// are, on a QUIC listener allowing 0-RTT).
	ss.EarlyData = true
	cs := tls.ConnectionState{ServerName: host}
	identity, err := keys.current().EncryptTicket(cs, ss)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.unwrap(identity, cs)
	if err != nil || got == nil {
		t.Fatalf("unwrap: %v %v", got, err)
	}
	if got.EarlyData {
		t.Fatal("a resumed session still allows early data")
	}
}

func TestSessionCreatedIsTheHandshakeTime(t *testing.T) {
	p := newPKI(t)
	for name, v := range versions {
		t.Run(name, func(t *testing.T) {
			before := time.Now().Add(-time.Second)
			_, ss := captureSession(t, p, rotated(t, newMemKeys(), nil), v)
			created, ok := sessionCreated(ss)
			if !ok || created.Before(before) || created.After(time.Now().Add(time.Second)) {
				t.Fatalf("created %v (%v), want about now", created, ok)
			}
		})
	}
}
