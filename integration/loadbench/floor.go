package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/emulator"
)

// floorHost is the site the generated Caddyfile answers with `respond`,
// with the MDM site's TLS and client-certificate settings.
const floorHost = "floor.contoso.com"

// floorClient sends what a device's idle session sends (one POST of its
// package 1 on a new connection, with its certificate, HTTP/2 as the
// emulator speaks it) to a server that answers without doing anything:
// the floor a management session cannot go below.
type floorClient struct {
	addr, sni string
	roots     *x509.CertPool
	body      []byte
	devices   []*emulator.Device
	caches    []tls.ClientSessionCache
}

func newFloorClient(addr, sni string, roots *x509.CertPool, body []byte, devs []*emulator.Device) *floorClient {
	f := &floorClient{addr: addr, sni: sni, roots: roots, body: body, devices: devs}
	for range devs {
		f.caches = append(f.caches, tls.NewLRUClientSessionCache(4))
	}
	return f
}

// request makes one new connection as device i and posts on it; resumed
// says whether the TLS session was resumed.
func (f *floorClient) request(i int, resume bool) (resumed bool, err error) {
	d := f.devices[i%len(f.devices)]
	cert := &tls.Certificate{Certificate: [][]byte{d.CertDER}, PrivateKey: d.Key()}
	conf := &tls.Config{RootCAs: f.roots, ServerName: f.sni,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }}
	if resume {
		conf.ClientSessionCache = f.caches[i%len(f.caches)]
	}
	tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: 30 * time.Second}).DialContext(ctx, network, f.addr)
		}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: time.Minute}
	resp, err := c.Post("https://"+f.sni+"/ManagementServer/MDM.svc?mode=Maintenance&Platform=WoA", "application/vnd.syncml.dm+xml", bytes.NewReader(f.body))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return false, fmt.Errorf("floor answered %d", resp.StatusCode)
	}
	return resp.TLS != nil && resp.TLS.DidResume, nil
}

// floorResult is the server CPU per request and the share of requests
// whose TLS session resumed.
type floorResult struct {
	cpuMS   float64
	resumed float64
	n       int
}

// measureFloor sends n requests with workers at a time and charges the
// server process pid's CPU to them. With resume, each device first makes
// one unmeasured request, so that every measured one can resume.
func (f *floorClient) measure(pid, n, workers int, resume bool) floorResult {
	if resume {
		for i := range f.devices {
			_, _ = f.request(i, true)
		}
	}
	var next, resumed, failed atomic.Int64
	c0 := cpuTime(pid)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				r, err := f.request(i, resume)
				if err != nil {
					if failed.Add(1) == 1 {
						log.Printf("floor request: %v", err)
					}
					continue
				}
				if r {
					resumed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	cpu := cpuTime(pid) - c0
	return floorResult{cpuMS: float64(cpu.Microseconds()) / 1000 / float64(n), resumed: float64(resumed.Load()) / float64(n), n: n}
}

// bareServer is a child process of this program serving the floor with
// nothing but crypto/tls and net/http: the same client-certificate check
// (the device CA, verify if given), session tickets on (Go's default), one
// small answer per POST. It shows what Caddy adds per connection.
type bareServer struct {
	cmd  *exec.Cmd
	addr string
	// roots trust its certificate.
	roots *x509.CertPool
}

func startBare(dir string, deviceRoot []byte) *bareServer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: floorHost}, DNSNames: []string{floorHost},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	check(err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	check(err)
	certFile, keyFile, caFile := filepath.Join(dir, "bare.crt"), filepath.Join(dir, "bare.key"), filepath.Join(dir, "device-ca.crt")
	check(os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	check(os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
	check(os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: deviceRoot}), 0o600))
	cmd := exec.Command(os.Args[0], "-serve-bare", certFile+","+keyFile+","+caFile)
	out, err := cmd.StdoutPipe()
	check(err)
	cmd.Stderr = os.Stderr
	check(cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	check(err)
	roots := x509.NewCertPool()
	c, _ := x509.ParseCertificate(der)
	roots.AddCert(c)
	return &bareServer{cmd: cmd, addr: line[:len(line)-1], roots: roots}
}

func (b *bareServer) stop() {
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
}

// serveBare is the child's side: it prints its address and serves until
// killed.
func serveBare(files string) {
	var certFile, keyFile, caFile string
	if _, err := fmt.Sscanf(replaceCommas(files), "%s %s %s", &certFile, &keyFile, &caFile); err != nil {
		log.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	check(err)
	caPEM, err := os.ReadFile(caFile)
	check(err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	fmt.Println(l.Addr().String())
	srv := &http.Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			if len(r.TLS.PeerCertificates) == 0 {
				http.Error(w, "no client certificate", http.StatusForbidden)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len("floor")))
			_, _ = w.Write([]byte("floor"))
		}),
	}
	log.Fatal(srv.ServeTLS(l, "", ""))
}

func replaceCommas(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == ',' {
			b[i] = ' '
		}
	}
	return string(b)
}
