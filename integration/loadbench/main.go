// Command loadbench measures caddy-mdm as deployed: it builds cmd/caddy,
// starts it from the quickstart Caddyfile (file storage; device traces as
// -traces says, off by default as in production), enrolls devices and runs
// OMA-DM sessions over real HTTPS with the emulator, and reports the
// server's CPU per operation as ratios to what the same machine cannot
// avoid:
//
//   - the floor: the same Caddy, the same TLS and client-certificate
//     settings, a site answering with `respond`, one new mTLS connection
//     and one POST of a device's package 1 per request (what an idle
//     session is, without the MDM), measured interleaved with the sessions
//     so that the machine's background load falls on both alike;
//   - one bcrypt check of the quickstart's password hash;
//   - the bare Go floor: crypto/tls and net/http alone with the same
//     client-certificate check, with and without TLS resumption, to show
//     what Caddy adds per connection.
//
// It also reports p50/p99, peak RSS, storage per device and storage writes
// per session, and the CPU a 100,000-device fleet's morning peak would
// take (167 sessions/s for 10 minutes), running the share of it this
// machine can. It then repeats the run with a large fleet already stored,
// to show what fleet size costs.
//
//	go run ./integration/loadbench [-devices 1000] [-sessions 10000] [-stored 1000000]
//
// Run it from the repository root, on an otherwise idle machine.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/emulator"
)

// options are the command's flags.
type options struct {
	devices, sessions, workers, stored int
	floorRequests, rounds, traces      int
	peakRate                           float64
	peakSeconds                        int
	profile                            string
	caKey                              string
}

func main() {
	var o options
	flag.IntVar(&o.devices, "devices", 1000, "devices to enroll")
	flag.IntVar(&o.sessions, "sessions", 10000, "OMA-DM sessions to run")
	flag.IntVar(&o.workers, "workers", 8, "concurrent emulated devices")
	flag.IntVar(&o.stored, "stored", 1000000, "devices stored before the second run (0: skip it)")
	flag.IntVar(&o.floorRequests, "floor", 2000, "floor requests per kind (full, resumed) on Caddy and on bare Go")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds alternating floor and sessions")
	flag.IntVar(&o.traces, "traces", 0, "trace_exchanges of the server (the quickstart keeps 20; production 0)")
	flag.Float64Var(&o.peakRate, "peak-rate", 167, "sessions/s of the morning peak (100,000 devices in 10 minutes)")
	flag.IntVar(&o.peakSeconds, "peak-seconds", 20, "seconds of the morning peak to run (0: skip)")
	flag.StringVar(&o.profile, "profile", "", "write a CPU profile of the server during 20 s of sessions to this file (Caddy's /debug/pprof)")
	flag.StringVar(&o.caKey, "ca", "", "device CA key type: rsa (the default CA, RSA 3072) or ecdsa")
	bare := flag.String("serve-bare", "", "internal: serve the bare Go floor with these cert,key,ca files")
	flag.Parse()
	if o.rounds < 1 || o.devices < 2 || o.workers < 1 {
		log.Fatalf("need -rounds >= 1, -devices >= 2 and -workers >= 1")
	}
	if *bare != "" {
		serveBare(*bare)
		return
	}
	log.SetFlags(0)

	work, err := os.MkdirTemp("", "caddy-mdm-loadbench")
	check(err)
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "caddy")
	build := exec.Command("go", "build", "-o", bin, "./cmd/caddy")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	check(build.Run())
	if *clusterMode { // cluster.go
		runCluster(bin, work, o)
		return
	}

	fmt.Printf("machine: %d cores (%s)\n", numCPU(), cpuModel())
	crypto := measureCrypto(o.caKey)
	bcryptMS := measureBcrypt()
	fmt.Printf("this process, one core: one bcrypt check (cost 10, the quickstart's hash) %.1f ms; CSR check + certificate signature %.2f ms\n\n", bcryptMS, crypto.issueMS)

	runs := []int{0}
	if o.stored > 0 {
		runs = append(runs, o.stored)
	}
	var results []runResult
	for _, stored := range runs {
		name := "empty store"
		if stored > 0 {
			name = fmt.Sprintf("%d devices stored", stored)
		}
		dir := filepath.Join(work, strings.ReplaceAll(name, " ", "-"))
		r := run(bin, dir, name, stored, o, bcryptMS)
		results = append(results, r)
	}
	// Printed before the work directory (a million seeded devices: minutes
	// to remove) goes.
	report(os.Stdout, results, o, bcryptMS, crypto.issueMS)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// server is a running caddy.
type server struct {
	cmd   *exec.Cmd
	port  int
	admin string
	dir   string
	roots *x509.CertPool
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func start(bin, dir string, traces int, caKey string) *server {
	s := &server{port: freePort(), admin: "127.0.0.1:" + strconv.Itoa(freePort()), dir: dir}
	check(os.MkdirAll(dir, 0o700))
	conf := filepath.Join(dir, "Caddyfile")
	check(os.WriteFile(conf, []byte(benchCaddyfile(traces, caKey)), 0o600))
	s.cmd = exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	s.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"HTTPS_PORT="+strconv.Itoa(s.port), "HTTP_PORT="+strconv.Itoa(freePort()), "CADDY_ADMIN="+s.admin)
	logf, err := os.Create(filepath.Join(dir, "caddy.log"))
	check(err)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	check(s.cmd.Start())
	root := filepath.Join(dir, "data", "caddy", "pki", "authorities", "local", "root.crt")
	for i := 0; ; i++ {
		if pem, err := os.ReadFile(root); err == nil {
			s.roots = x509.NewCertPool()
			s.roots.AppendCertsFromPEM(pem)
			if c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port), &tls.Config{RootCAs: s.roots, ServerName: "enterpriseenrollment.contoso.com"}); err == nil {
				c.Close()
				return s
			}
		}
		if i > 1200 {
			log.Fatalf("caddy did not start; see %s", filepath.Join(dir, "caddy.log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// benchCaddyfile is the quickstart with the trace setting and device CA
// key type of the run, and
// a floor site: the same TLS and client-certificate settings as the MDM
// site, `respond` instead of `mdm`.
func benchCaddyfile(traces int, caKey string) string {
	b, err := os.ReadFile("caddyfile-examples/quickstart.Caddyfile")
	check(err)
	conf := string(b)
	const quick = "trace_exchanges 20"
	if !strings.Contains(conf, quick) {
		log.Fatalf("quickstart.Caddyfile no longer says %q: update loadbench", quick)
	}
	if traces > 0 {
		conf = strings.Replace(conf, quick, "trace_exchanges "+strconv.Itoa(traces), 1)
	} else {
		conf = strings.Replace(conf, quick, "", 1)
	}
	if caKey != "" {
		conf = strings.Replace(conf, "\tmdm {\n", "\tmdm {\n\t\tdevice_ca {\n\t\t\tkey_type "+caKey+"\n\t\t}\n", 1)
	}
	return conf + `
` + floorHost + ` {
	tls internal {
		client_auth {
			mode verify_if_given
			trust_pool mdm_device_ca
		}
	}
	encode zstd gzip
	respond "floor" 200
}
`
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
}

func (s *server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *server) options() emulator.Options {
	return emulator.Options{ServerURL: "https://enterpriseenrollment.contoso.com", ConnectTo: s.addr(),
		RootCAs: s.roots, User: "demo@contoso.com", Password: "demo-password", Timeout: 2 * time.Minute}
}
