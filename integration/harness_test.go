package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	// The caddy binary under test is built from cmd/caddy in TestMain, which
	// the test cache does not see; importing its packages here makes any
	// change to them invalidate cached results of this package.
	_ "github.com/caddy-mdm/caddy-mdm/caddymdm"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// caddyBin is the caddy binary built from cmd/caddy for this test run;
// pebbleBin is Let's Encrypt's ACME test server, for the production example.
var caddyBin, pebbleBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "caddy-mdm-integration")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	caddyBin = filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-o", caddyBin, "../cmd/caddy")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building cmd/caddy:", err)
		os.Exit(1)
	}
	// pebble is built from the separate module in tools/, so that it stays
	// out of the requirements of the module users build.
	pebbleBin = filepath.Join(dir, "pebble")
	build = exec.Command("go", "build", "-o", pebbleBin, "github.com/letsencrypt/pebble/v2/cmd/pebble")
	build.Dir = "tools"
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building pebble:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// EnrollmentHost is the host name the examples serve, as Windows derives it
// from the user's e-mail domain (pitfall P1: a name, never an IP).
const EnrollmentHost = "enterpriseenrollment.contoso.com"

// server is one running caddy process.
type server struct {
	t         *testing.T
	dir       string // HOME and XDG directories live here
	config    string
	env       []string
	httpsPort int
	cmd       *exec.Cmd
	logs      *syncBuffer
	client    *http.Client
	// client11 speaks HTTP/1.1 only; devices use both protocols.
	client11 *http.Client
	roots    *x509.CertPool
	// adminAddr is the admin API listener (CADDY_ADMIN).
	adminAddr string
	// trust returns the roots that verify the site, once they exist;
	// by default Caddy's internal CA.
	trust func() *x509.CertPool
	// rootFile is a PEM file of those roots, for the emulator.
	rootFile string
	// consolePort is the quickstart console's port (CONSOLE_PORT).
	consolePort int
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// waitFor waits up to five seconds for the logs to contain s: a process's
// log line and its HTTP answer travel different pipes.
func (b *syncBuffer) waitFor(s string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if strings.Contains(b.String(), s) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCaddy runs caddy with an example Caddyfile in a fresh state directory.
func startCaddy(t *testing.T, example string, env ...string) *server {
	t.Helper()
	return startCaddyFile(t, filepath.Join("..", "caddyfile-examples", example), env...)
}

// startCaddyFile runs caddy with any Caddyfile, trusting Caddy's internal CA.
func startCaddyFile(t *testing.T, config string, env ...string) *server {
	t.Helper()
	s := &server{t: t, dir: t.TempDir(), config: config, env: env}
	s.rootFile = filepath.Join(s.dataDir(), "pki", "authorities", "local", "root.crt")
	s.trust = func() *x509.CertPool {
		pemBytes, err := os.ReadFile(s.rootFile)
		if err != nil {
			return nil
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil
		}
		return pool
	}
	s.start()
	return s
}

// start (re)starts the process on new ports, keeping the state directory.
func (s *server) start() {
	t := s.t
	t.Helper()
	s.httpsPort = freePort(t)
	s.logs = &syncBuffer{}
	s.cmd = exec.Command(caddyBin, "run", "--config", s.config, "--adapter", "caddyfile")
	s.cmd.Env = append(os.Environ(),
		"HOME="+s.dir,
		"XDG_DATA_HOME="+filepath.Join(s.dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(s.dir, "config"),
		fmt.Sprintf("HTTPS_PORT=%d", s.httpsPort),
		fmt.Sprintf("HTTP_PORT=%d", freePort(t)),
	)
	// The quickstart's console site listens on CONSOLE_PORT (default 2020):
	// each server gets its own, so runs side by side never collide.
	s.consolePort = freePort(t)
	s.cmd.Env = append(s.cmd.Env, fmt.Sprintf("CONSOLE_PORT=%d", s.consolePort))
	s.adminAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// ADMIN_ADDRESS for Caddyfiles that name their admin listener (the
	// cluster example), CADDY_ADMIN for the others.
	s.cmd.Env = append(s.cmd.Env, "CADDY_ADMIN="+s.adminAddr, "ADMIN_ADDRESS="+s.adminAddr)
	s.cmd.Env = append(s.cmd.Env, s.env...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	s.waitReady()
}

func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil || s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	if s.t.Failed() {
		s.t.Logf("caddy logs:\n%s", s.logs.String())
	}
}

// dataDir is Caddy's storage root.
func (s *server) dataDir() string { return filepath.Join(s.dir, "data", "caddy") }

// waitReady waits until caddy serves the site over TLS with a certificate
// its trust roots verify, then builds clients that trust them.
func (s *server) waitReady() {
	t := s.t
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if s.cmd.ProcessState != nil {
			t.Fatalf("caddy exited:\n%s", s.logs.String())
		}
		if pool := s.trust(); pool != nil {
			s.roots = pool
			s.client = s.newClient(pool, true)
			s.client11 = s.newClient(pool, false)
			resp, err := s.client.Get(s.url("/EnrollmentServer/Discovery.svc"))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy not ready after 30s:\n%s", s.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// newClient dials 127.0.0.1 for EnrollmentHost (as a hosts entry would) and
// verifies the server certificate against the internal CA root.
func (s *server) newClient(roots *x509.CertPool, h2 bool) *http.Client {
	addr := fmt.Sprintf("127.0.0.1:%d", s.httpsPort)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: EnrollmentHost},
		ForceAttemptHTTP2: h2,
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// deviceClient is a client presenting a device's certificate, as Windows
// does on the management service.
func (s *server) deviceClient(cert tls.Certificate) *http.Client {
	c := s.newClient(s.roots, true)
	c.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{cert}
	return c
}

// admin calls the admin API.
func (s *server) admin(method, path, body string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, "http://"+s.adminAddr+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp, b}
}

// cli runs `caddy mdm ...` against this server's admin API.
func (s *server) cli(args ...string) (string, error) {
	cmd := exec.Command(caddyBin, append(append([]string{"mdm"}, args...), "--address", s.adminAddr)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *server) url(path string) string {
	return fmt.Sprintf("https://%s:%d%s", EnrollmentHost, s.httpsPort, path)
}

// response is a fully read HTTP response.
type response struct {
	*http.Response
	body []byte
}

func (s *server) do(c *http.Client, method, path, contentType string, body []byte) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url(path), bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "ENROLLClient")
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{resp, b}
}

func (s *server) postSOAP(path string, body []byte) response {
	s.t.Helper()
	return s.do(s.client, http.MethodPost, path, "application/soap+xml; charset=utf-8", body)
}

// checkSOAPFraming asserts what Windows needs of every SOAP answer: the SOAP
// media type and an exact Content-Length, never a chunked body.
func checkSOAPFraming(t *testing.T, r response) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/soap+xml") {
		t.Errorf("Content-Type %q", ct)
	}
	if r.ContentLength != int64(len(r.body)) || len(r.TransferEncoding) != 0 {
		t.Errorf("Content-Length %d for %d bytes, Transfer-Encoding %v", r.ContentLength, len(r.body), r.TransferEncoding)
	}
	if r.Header.Get("Content-Encoding") != "" {
		t.Errorf("SOAP body encoded with %q", r.Header.Get("Content-Encoding"))
	}
}
