// Command loadbench measures caddy-mdm as deployed: it builds cmd/caddy,
// starts it from the quickstart Caddyfile, enrolls devices and runs OMA-DM
// sessions over real HTTPS with the emulator, and reports throughput,
// latency, the server's CPU time per operation, its peak memory, storage
// per device, and the crypto bound of the same machine. It then repeats the
// run with a large fleet already stored, to show what fleet size costs.
//
//	go run ./integration/loadbench [-devices 1000] [-sessions 10000] [-stored 100000]
//
// Run it from the repository root, on an otherwise idle machine.
package main

import (
	"context"
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

func main() {
	devices := flag.Int("devices", 1000, "devices to enroll")
	sessions := flag.Int("sessions", 10000, "OMA-DM sessions to run")
	workers := flag.Int("workers", 8, "concurrent emulated devices")
	stored := flag.Int("stored", 100000, "devices stored before the second run (0: skip it)")
	flag.Parse()
	log.SetFlags(0)

	work, err := os.MkdirTemp("", "caddy-mdm-loadbench")
	check(err)
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "caddy")
	build := exec.Command("go", "build", "-o", bin, "./cmd/caddy")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	check(build.Run())

	fmt.Printf("machine: %d cores (%s)\n\n", numCPU(), cpuModel())
	crypto := measureCrypto()
	fmt.Printf("crypto bound (this process, one core): CSR check + certificate signature %.2f ms (RSA 2048 device key, ECDSA P-256 CA)\n\n", crypto.issueMS)

	runs := []struct {
		name   string
		stored int
	}{{"empty store", 0}}
	if *stored > 0 {
		runs = append(runs, struct {
			name   string
			stored int
		}{fmt.Sprintf("%d devices stored", *stored), *stored})
	}
	var rows []string
	for _, run := range runs {
		dir := filepath.Join(work, strings.ReplaceAll(run.name, " ", "-"))
		if run.stored > 0 {
			log.Printf("seeding %d devices...", run.stored)
			check(seed(filepath.Join(dir, "data", "caddy"), run.stored))
		}
		srv := start(bin, dir)
		hs := measureHandshakes(srv, 300)
		log.Printf("%s: enrolling %d devices, then %d sessions...", run.name, *devices, *sessions)
		res := measureLoad(srv, *devices, *sessions, *workers)
		srv.stop()
		perDevice := storageBytes(filepath.Join(dir, "data", "caddy", "mdm")) / int64(run.stored+res.enrolled)
		rows = append(rows, fmt.Sprintf("| %s | %.1f | %.1f | %s | %s | %.1f ms | %.2f ms | %.2f ms | %d MiB | %d B |",
			run.name, res.load.Enrollments.PerSec, res.load.Sessions.PerSec,
			res.load.Enrollments.P99.Round(time.Millisecond), res.load.Sessions.P99.Round(100*time.Microsecond),
			res.cpuPerEnroll, res.cpuPerSession, hs, res.peakRSS>>20, perDevice))
		fmt.Printf("%s:\n", run.name)
		res.load.Print(os.Stdout)
		fmt.Println()
	}
	fmt.Println("| run | enrollments/s | sessions/s | enrollment p99 | session p99 | server CPU / enrollment | server CPU / session | server CPU / TLS handshake | peak RSS | storage / device |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Println(r)
	}
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
	dir   string
	roots *x509.CertPool
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func start(bin, dir string) *server {
	s := &server{port: freePort(), dir: dir}
	s.cmd = exec.Command(bin, "run", "--config", "caddyfile-examples/quickstart.Caddyfile", "--adapter", "caddyfile")
	s.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"HTTPS_PORT="+strconv.Itoa(s.port), "HTTP_PORT="+strconv.Itoa(freePort()), "CADDY_ADMIN=127.0.0.1:"+strconv.Itoa(freePort()))
	check(os.MkdirAll(dir, 0o700))
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
		if i > 600 {
			log.Fatalf("caddy did not start; see %s", filepath.Join(dir, "caddy.log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
}

func (s *server) options() emulator.Options {
	return emulator.Options{ServerURL: "https://enterpriseenrollment.contoso.com", ConnectTo: "127.0.0.1:" + strconv.Itoa(s.port),
		RootCAs: s.roots, User: "demo@contoso.com", Password: "demo-password", Timeout: 2 * time.Minute}
}

type loadResult struct {
	load          *emulator.LoadResult
	enrolled      int
	cpuPerEnroll  float64 // ms
	cpuPerSession float64 // ms
	peakRSS       int64
}

func measureLoad(s *server, devices, sessions, workers int) loadResult {
	o := s.options()
	pid := s.cmd.Process.Pid
	// Phase 1: enrollments only, to attribute CPU.
	c0 := cpuTime(pid)
	res, err := emulator.Load(context.Background(), o, emulator.LoadOptions{Devices: devices, Workers: workers, KeyPool: 16})
	check(err)
	c1 := cpuTime(pid)
	// Phase 2: sessions of those devices, round robin.
	per := (sessions + len(res.Devices) - 1) / len(res.Devices)
	sres, err := sessionsOnly(o, res.Devices, per, workers)
	check(err)
	c2 := cpuTime(pid)
	res.Sessions = sres
	return loadResult{
		load: res, enrolled: len(res.Devices),
		cpuPerEnroll:  float64((c1 - c0).Microseconds()) / 1000 / float64(max(1, res.Enrollments.Count)),
		cpuPerSession: float64((c2 - c1).Microseconds()) / 1000 / float64(max(1, sres.Count)),
		peakRSS:       peakRSS(pid),
	}
}

// sessionsOnly runs sessions of enrolled devices through the load runner's
// session phase.
func sessionsOnly(o emulator.Options, devs []*emulator.Device, perDevice, workers int) (emulator.PhaseResult, error) {
	return emulator.LoadSessions(context.Background(), o, devs, perDevice, workers, nil), nil
}

// measureHandshakes is the server CPU per full TLS handshake (new
// connection, no resumption), in ms.
func measureHandshakes(s *server, n int) float64 {
	pid := s.cmd.Process.Pid
	conf := &tls.Config{RootCAs: s.roots, ServerName: "enterpriseenrollment.contoso.com", ClientSessionCache: nil}
	c0 := cpuTime(pid)
	for range n {
		c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port), conf)
		check(err)
		c.Close()
	}
	return float64((cpuTime(pid) - c0).Microseconds()) / 1000 / float64(n)
}
