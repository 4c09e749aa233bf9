package main

// Cluster mode (-cluster): two caddy-mdm nodes from
// caddyfile-examples/cluster-redis.Caddyfile on one redis-server this
// command starts, the emulator's load split across them (devices enrolled
// on one node run their sessions on the other), then the cost of listing
// and counting a fleet of -cluster-stored devices seeded straight into
// Redis.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-mdm/caddy-mdm/internal/emulator"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/testredis"
	redisseed "github.com/caddy-mdm/caddy-mdm/internal/testredis/seed"
)

var (
	clusterMode   = flag.Bool("cluster", false, "run the cluster benchmark instead: two nodes on Redis (needs redis-server)")
	clusterStored = flag.Int("cluster-stored", 1000000, "cluster mode: devices seeded in Redis to time listing and counting")
)

// startNode starts one node of the cluster example on Redis at redisPort.
func startNode(bin, dir string, redisPort, traces int) *server {
	s := &server{port: freePort(), admin: "127.0.0.1:" + strconv.Itoa(freePort()), dir: dir}
	check(os.MkdirAll(dir, 0o700))
	b, err := os.ReadFile("caddyfile-examples/cluster-redis.Caddyfile")
	check(err)
	conf := string(b)
	if traces > 0 {
		conf = strings.Replace(conf, "trace_exchanges 20", "trace_exchanges "+strconv.Itoa(traces), 1)
	} else {
		conf = strings.Replace(conf, "trace_exchanges 20", "", 1)
	}
	path := filepath.Join(dir, "Caddyfile")
	check(os.WriteFile(path, []byte(conf), 0o600))
	s.cmd = exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	s.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"HTTPS_PORT="+strconv.Itoa(s.port), "HTTP_PORT="+strconv.Itoa(freePort()), "ADMIN_ADDRESS="+s.admin,
		"REDIS_HOST=127.0.0.1", "REDIS_PORT="+strconv.Itoa(redisPort))
	logf, err := os.Create(filepath.Join(dir, "caddy.log"))
	check(err)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	check(s.cmd.Start())
	for i := 0; ; i++ {
		if pool := adminRoots(s.admin); pool != nil {
			if c, err := tls.Dial("tcp", s.addr(), &tls.Config{RootCAs: pool, ServerName: "enterpriseenrollment.contoso.com"}); err == nil {
				c.Close()
				s.roots = pool
				return s
			}
		}
		if i > 1200 {
			log.Fatalf("node did not start; see %s", filepath.Join(dir, "caddy.log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// adminRoots reads the internal CA's root from the admin API (it lives in
// Redis, not on disk).
func adminRoots(admin string) *x509.CertPool {
	resp, err := http.Get("http://" + admin + "/pki/ca/local")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var ca struct {
		Root string `json:"root_certificate"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&ca) != nil {
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca.Root)) {
		return nil
	}
	return pool
}

// redisCalls sums the calls of every command Redis has served (INFO
// commandstats), the INFO calls themselves left out.
func redisCalls(c *redis.Client) int64 {
	info, err := c.Info(context.Background(), "commandstats").Result()
	check(err)
	var n int64
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok || name == "cmdstat_info" {
			continue
		}
		v, _ := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
		n += v
	}
	return n
}

// timedGet calls the admin API n times and returns the mean time per call
// and the Redis commands per call.
func timedGet(rc *redis.Client, admin, path string, n int) (time.Duration, float64, string) {
	ops := redisCalls(rc)
	t0 := time.Now()
	var body string
	for range n {
		resp, err := http.Get("http://" + admin + path)
		check(err)
		buf := make([]byte, 512)
		k, _ := resp.Body.Read(buf)
		body = string(buf[:k])
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			log.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	return time.Since(t0) / time.Duration(n), float64(redisCalls(rc)-ops-int64(n)) / float64(n), body
}

func runCluster(bin, work string, o options) {
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		log.Fatal("cluster mode needs redis-server on PATH (Debian: apt-get install redis-server)")
	}
	rs, err := testredis.Start(redisBin, filepath.Join(work, "redis"))
	check(err)
	defer rs.Kill()
	rc := rs.Client()
	defer rc.Close()

	fmt.Printf("machine: %d cores (%s); cluster: 2 nodes + redis-server on this machine\n", numCPU(), cpuModel())
	// A first, alone: it creates the CAs in Redis; B loads them.
	a := startNode(bin, filepath.Join(work, "node-a"), rs.Port, o.traces)
	defer a.stop()
	b := startNode(bin, filepath.Join(work, "node-b"), rs.Port, o.traces)
	defer b.stop()
	nodes := []*server{a, b}
	pids := []int{a.cmd.Process.Pid, b.cmd.Process.Pid}
	cpus := func() []time.Duration { return []time.Duration{cpuTime(pids[0]), cpuTime(pids[1])} }

	// Enrollment: half the devices on each node, at once.
	log.Printf("cluster: enrolling %d devices, half on each node...", o.devices)
	ops0, c0, t0 := redisCalls(rc), cpus(), time.Now()
	var wg sync.WaitGroup
	enrolled := make([][]*emulator.Device, 2)
	enrollRes := make([]emulator.PhaseResult, 2)
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lr, err := emulator.Load(context.Background(), n.options(), emulator.LoadOptions{Devices: o.devices / 2, Workers: max(1, o.workers/2), KeyPool: 16})
			check(err)
			enrolled[i], enrollRes[i] = lr.Devices, lr.Enrollments
		}()
	}
	wg.Wait()
	enrollDur := time.Since(t0)
	c1 := cpus()
	nEnroll := enrollRes[0].Count + enrollRes[1].Count
	enrollOps := float64(redisCalls(rc)-ops0) / float64(max(1, nEnroll))
	fmt.Printf("enrollment: %.1f/s over both nodes (%d, %d errors); p99 %s / %s; CPU per enrollment A %.2f ms, B %.2f ms; Redis commands per enrollment %.1f\n",
		float64(nEnroll)/enrollDur.Seconds(), nEnroll, enrollRes[0].Errors+enrollRes[1].Errors,
		enrollRes[0].P99.Round(time.Millisecond), enrollRes[1].P99.Round(time.Millisecond),
		ms(c1[0]-c0[0])/float64(max(1, enrollRes[0].Count)), ms(c1[1]-c0[1])/float64(max(1, enrollRes[1].Count)), enrollOps)

	// Sessions: devices enrolled on A run their sessions on B, and the other
	// way round, both halves at once. The first session of each device
	// (first inventory) runs apart, as in the single-node run.
	for i, n := range nodes {
		emulator.LoadSessions(context.Background(), n.options(), enrolled[1-i], 1, max(1, o.workers/2), nil)
	}
	per := max(1, o.sessions/max(1, len(enrolled[0])+len(enrolled[1])))
	log.Printf("cluster: %d sessions per device, each node serving the other's devices...", per)
	ops0, c0, t0 = redisCalls(rc), cpus(), time.Now()
	sessRes := make([]emulator.PhaseResult, 2)
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sessRes[i] = emulator.LoadSessions(context.Background(), n.options(), enrolled[1-i], per, max(1, o.workers/2), nil)
		}()
	}
	wg.Wait()
	sessDur := time.Since(t0)
	c1 = cpus()
	nSess := sessRes[0].Count + sessRes[1].Count
	fmt.Printf("sessions: %.1f/s over both nodes (%d, %d errors); p50 %s / %s, p99 %s / %s; CPU per session A %.3f ms, B %.3f ms; Redis commands per session %.1f\n",
		float64(nSess)/sessDur.Seconds(), nSess, sessRes[0].Errors+sessRes[1].Errors,
		sessRes[0].P50.Round(100*time.Microsecond), sessRes[1].P50.Round(100*time.Microsecond),
		sessRes[0].P99.Round(time.Millisecond), sessRes[1].P99.Round(time.Millisecond),
		ms(c1[0]-c0[0])/float64(max(1, sessRes[0].Count)), ms(c1[1]-c0[1])/float64(max(1, sessRes[1].Count)),
		float64(redisCalls(rc)-ops0)/float64(max(1, nSess)))
	for _, r := range sessRes {
		if r.FirstError != "" {
			log.Printf("session error: %s", r.FirstError)
		}
	}

	if *clusterStored <= 0 {
		return
	}
	log.Printf("cluster: seeding %d devices into Redis...", *clusterStored)
	t0 = time.Now()
	const batch = 100000
	for start := 0; start < *clusterStored; start += batch {
		devs := make([]*store.Device, 0, batch)
		for i := start; i < min(start+batch, *clusterStored); i++ {
			st := store.StateEnrolled
			if i%10 == 0 {
				st = store.StateRetired
			}
			devs = append(devs, &store.Device{DeviceID: fmt.Sprintf("%08X%024X", uint32(i)*2654435761, i), State: st,
				EnrollmentType: store.EnrollmentFull, User: "user@contoso.com", EnrolledAt: time.Now().UTC(),
				Certificate: store.Certificate{Serial: fmt.Sprintf("%X", i), NotAfter: time.Now().AddDate(1, 0, 0)}})
		}
		check(redisseed.Devices(context.Background(), rc, "caddy", devs, 2000))
	}
	mem, _ := rc.Info(context.Background(), "memory").Result()
	used := ""
	for _, l := range strings.Split(mem, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory_human:"); ok {
			used = v
		}
	}
	fmt.Printf("seeded %d devices in %.0f s (Redis used_memory %s)\n", *clusterStored, time.Since(t0).Seconds(), used)
	first, firstOps, _ := timedGet(rc, a.admin, "/mdm/devices?limit=100", 20)
	mid, midOps, _ := timedGet(rc, a.admin, "/mdm/devices?limit=100&after=7FFFFFFF", 20)
	ret, retOps, _ := timedGet(rc, a.admin, "/mdm/devices?state=retired&limit=100&after=80000000", 20)
	count, countOps, body := timedGet(rc, b.admin, "/mdm/cluster", 5)
	fmt.Printf("at %d stored devices: a page of 100 (first) %s, %.0f Redis commands; (middle) %s, %.0f; retired only %s, %.0f; counting by state %s, %.0f Redis commands: %s\n",
		*clusterStored, first.Round(100*time.Microsecond), firstOps, mid.Round(100*time.Microsecond), midOps,
		ret.Round(100*time.Microsecond), retOps, count.Round(100*time.Microsecond), countOps, strings.TrimSpace(body))
}
