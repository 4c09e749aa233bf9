package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/emulator"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// runResult is one run's measurements. CPU is the server process's, in ms
// per operation.
type runResult struct {
	name   string
	stored int
	seedS  float64

	enrolled                  int
	enrollCPU, sessionCPU     float64
	enrollFloor               floorResult // full-handshake floor between the enrollment batches
	sessionFullCPU            float64
	firstSessionCPU           float64
	enroll                    emulator.PhaseResult
	sessionP50, sessionP99    time.Duration
	sessionsPerSec            float64
	sessionCount, sessionErrs int
	floorFull, floorResumed   floorResult
	bareFull, bareResumed     *floorResult
	emulatorResumed           float64
	peakRSS                   int64
	storagePerDevice          int64
	writesPerSession          float64
	peak                      *peakResult
}

func run(bin, dir, name string, stored int, o options, bcryptMS float64) runResult {
	res := runResult{name: name, stored: stored}
	caddyDir := filepath.Join(dir, "data", "caddy")
	if stored > 0 {
		log.Printf("seeding %d devices...", stored)
		t0 := time.Now()
		check(seed(caddyDir, stored))
		res.seedS = time.Since(t0).Seconds()
		log.Printf("seeded in %.0f s", res.seedS)
	}
	srv := start(bin, dir, o.traces, o.caKey)
	pid := srv.cmd.Process.Pid
	// Work the server does once at start (the file storage's sweep of
	// leftover temporary files walks the whole mdm/ tree: minutes at a
	// million devices) is not what a request costs: wait for it to end.
	waitIdle(pid, 15*time.Minute)
	opts := srv.options()
	mdmDir := filepath.Join(caddyDir, "mdm")

	body, err := os.ReadFile("testdata/windows10-19043/a-syncml-session1-msg1.xml")
	check(err)
	log.Printf("%s: enrolling %d devices (%d batches, each after a floor burst)...", name, o.devices, o.rounds)
	if o.profile != "" {
		go fetchProfile(srv, 15, o.profile+".enroll."+strconv.Itoa(stored))
	}
	er := enrollInterleaved(srv, pid, o, body)
	res.enrollCPU, res.enrollFloor, res.enroll = er.cpuMS, er.floor, er.phase
	res.enrolled = len(er.devices)
	devs := er.devices

	// Writes to the run's devices' keys, from here on.
	wc := newWriteCounter()
	defer wc.close()
	for _, d := range devs {
		wc.watch(filepath.Join(mdmDir, "devices", d.ID))
	}

	// The first session after enrollment does what enrollment leaves to
	// it (the device's first inventory, commands queued at enrollment):
	// measured apart, so that the rounds measure the sessions a fleet runs
	// every day.
	log.Printf("%s: first session of each device...", name)
	c1 := cpuTime(pid)
	first := emulator.LoadSessions(context.Background(), opts, devs, 1, o.workers, nil)
	res.firstSessionCPU = ms(cpuTime(pid)-c1) / float64(max(1, first.Count))
	if first.FirstError != "" {
		log.Printf("first session error: %s", first.FirstError)
	}

	floor := newFloorClient(srv.addr(), floorHost, srv.roots, body, devs)
	perRound := max(1, o.sessions/o.rounds/max(1, len(devs)))
	floorPerRound := max(1, o.floorRequests/o.rounds)
	var sessCPU, fullSessCPU time.Duration
	fullSessions := 0
	noResume := opts
	noResume.NoResume = true
	var full, resumed floorResult
	var p50s []time.Duration
	var sessDur time.Duration
	for r := range o.rounds {
		log.Printf("%s: round %d/%d: floor, %d sessions with full handshakes, %d resuming, resumed floor", name, r+1, o.rounds, perRound*len(devs), perRound*len(devs))
		f := floor.measure(pid, floorPerRound, o.workers, false)
		full = addFloor(full, f)
		c := cpuTime(pid)
		fr := emulator.LoadSessions(context.Background(), noResume, devs, perRound, o.workers, nil)
		fullSessCPU += cpuTime(pid) - c
		fullSessions += fr.Count
		if fr.FirstError != "" {
			log.Printf("session error (full handshakes): %s", fr.FirstError)
		}
		c = cpuTime(pid)
		sr := emulator.LoadSessions(context.Background(), opts, devs, perRound, o.workers, nil)
		sessCPU += cpuTime(pid) - c
		res.sessionCount += sr.Count
		res.sessionErrs += sr.Errors
		sessDur += sr.Duration
		p50s = append(p50s, sr.P50)
		res.sessionP99 = max(res.sessionP99, sr.P99)
		if sr.FirstError != "" {
			log.Printf("session error: %s", sr.FirstError)
		}
		f = floor.measure(pid, floorPerRound, o.workers, true)
		resumed = addFloor(resumed, f)
	}
	res.floorFull, res.floorResumed = full, resumed
	res.sessionCPU = ms(sessCPU) / float64(max(1, res.sessionCount))
	res.sessionFullCPU = ms(fullSessCPU) / float64(max(1, fullSessions))
	res.sessionP50 = median(p50s)
	res.sessionsPerSec = float64(res.sessionCount) / sessDur.Seconds()
	res.emulatorResumed = emulatorResumedShare(srv, devs)

	if o.profile != "" {
		profileSessions(srv, opts, devs, o, o.profile+"."+strconv.Itoa(stored))
	}
	if o.peakSeconds > 0 && (stored > 0 || o.stored == 0) {
		log.Printf("%s: morning peak, %.0f sessions/s for %d s...", name, o.peakRate, o.peakSeconds)
		res.peak = runPeak(srv, devs, o.peakRate, time.Duration(o.peakSeconds)*time.Second)
	}
	if stored == 0 {
		log.Printf("bare Go floor...")
		b := startBare(dir, devs[0].RootDER)
		bf := newFloorClient(b.addr, floorHost, b.roots, body, devs)
		bp := b.cmd.Process.Pid
		f, r := bf.measure(bp, o.floorRequests, o.workers, false), bf.measure(bp, o.floorRequests, o.workers, true)
		res.bareFull, res.bareResumed = &f, &r
		b.stop()
	}
	res.peakRSS = peakRSS(pid)
	srv.stop() // writes the idle sessions still waiting
	time.Sleep(500 * time.Millisecond)
	res.writesPerSession = float64(wc.writes.Load()) / float64(max(1, res.sessionCount+peakCount(res.peak)))
	res.storagePerDevice = runStorage(mdmDir, devs) / int64(max(1, res.enrolled))
	return res
}

// settle ends each enrollment batch's window a second after its last
// enrollment, so that what the batch leaves the server to finish (closing
// its connections, collecting its garbage) is charged to it and not to the
// floor burst after it. Only there: before the first sessions the server
// has no deferred work of its own, while later a second of settling would
// charge a short floor burst with the idle sessions' periodic writes.
const settle = time.Second

func addFloor(a, b floorResult) floorResult {
	n := a.n + b.n
	return floorResult{n: n, cpuMS: (a.cpuMS*float64(a.n) + b.cpuMS*float64(b.n)) / float64(n),
		resumed: (a.resumed*float64(a.n) + b.resumed*float64(b.n)) / float64(n)}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// emulatorResumedShare runs one more session per device (up to 50) and
// says how many resumed their TLS session, as the emulator tries to.
func emulatorResumedShare(srv *server, devs []*emulator.Device) float64 {
	n, resumed := 0, 0
	for _, d := range devs[:min(50, len(devs))] {
		r, err := emulator.Session(context.Background(), srv.options(), d, &emulator.Report{}, false)
		if err != nil {
			continue
		}
		n++
		if r.Resumed {
			resumed++
		}
	}
	return float64(resumed) / float64(max(1, n))
}

// peakResult is a paced run of sessions.
type peakResult struct {
	rate, achieved float64
	seconds        float64
	count, errors  int
	// cpuPct is the server's CPU over the run, as a share of 2 cores.
	cpuPct float64
	p99    time.Duration
}

func peakCount(p *peakResult) int {
	if p == nil {
		return 0
	}
	return p.count
}

// runPeak starts sessions at rate per second for d, round robin over the
// devices (a device's sessions never overlap), and measures the server's
// CPU over the time they take.
func runPeak(srv *server, devs []*emulator.Device, rate float64, d time.Duration) *peakResult {
	pid := srv.cmd.Process.Pid
	opts := srv.options()
	busy := make([]atomic.Bool, len(devs))
	var wg sync.WaitGroup
	var count, errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	sem := make(chan struct{}, 256)
	interval := time.Duration(float64(time.Second) / rate)
	c0, t0 := cpuTime(pid), time.Now()
	next := 0
	for i := 0; time.Since(t0) < d; i++ {
		time.Sleep(time.Until(t0.Add(time.Duration(i) * interval)))
		k := -1
		for j := range len(devs) {
			c := (next + j) % len(devs)
			if busy[c].CompareAndSwap(false, true) {
				k = c
				break
			}
		}
		next = (k + 1) % len(devs)
		if k < 0 {
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			busy[k].Store(false)
			continue // the server is behind: the session is dropped, not queued
		}
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			defer func() { <-sem; busy[k].Store(false) }()
			s := time.Now()
			if _, err := emulator.Session(context.Background(), opts, devs[k], &emulator.Report{}, false); err != nil {
				errs.Add(1)
				return
			}
			count.Add(1)
			mu.Lock()
			lat = append(lat, time.Since(s))
			mu.Unlock()
		}(k)
	}
	wg.Wait()
	el := time.Since(t0)
	cpu := cpuTime(pid) - c0
	p := &peakResult{rate: rate, seconds: el.Seconds(), count: int(count.Load()), errors: int(errs.Load())}
	p.achieved = float64(p.count) / el.Seconds()
	p.cpuPct = cpu.Seconds() / el.Seconds() / 2 * 100
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p.p99 = lat[len(lat)*99/100]
	}
	return p
}

// profileSessions takes a CPU profile of the server (Caddy's admin
// endpoint /debug/pprof/profile) while sessions run, and writes it to file.
func profileSessions(srv *server, opts emulator.Options, devs []*emulator.Device, o options, file string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fetchProfile(srv, 20, file)
	}()
	for {
		select {
		case <-done:
			return
		default:
			emulator.LoadSessions(context.Background(), opts, devs[:min(len(devs), 200)], 1, o.workers, nil)
		}
	}
}

// fetchProfile writes a CPU profile of the server over the next seconds.
func fetchProfile(srv *server, seconds int, file string) {
	resp, err := http.Get("http://" + srv.admin + "/debug/pprof/profile?seconds=" + strconv.Itoa(seconds))
	if err != nil {
		log.Printf("profile: %v", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	check(err)
	_, _ = io.Copy(f, resp.Body)
	f.Close()
	log.Printf("server CPU profile: %s", file)
}

// runStorage is what the run's devices take in storage: their directories
// and their entries in the certificate, hardware and state indexes. It
// reads only those (walking a million seeded devices would take minutes).
func runStorage(mdmDir string, devs []*emulator.Device) int64 {
	var n int64
	size := func(p string) {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	for _, d := range devs {
		n += storageBytes(filepath.Join(mdmDir, "devices", d.ID))
		sum := sha1.Sum(d.CertDER)
		size(filepath.Join(mdmDir, "certificates", strings.ToUpper(hex.EncodeToString(sum[:]))+".json"))
		size(filepath.Join(mdmDir, "hardware", d.HWDevID+".json"))
		size(filepath.Join(mdmDir, "index", "state", string(store.StateEnrolled), d.ID[:2], d.ID))
	}
	return n
}

// waitIdle waits until the process uses under 5 % of a core over 2 s, or
// for at most limit.
func waitIdle(pid int, limit time.Duration) {
	t0 := time.Now()
	for time.Since(t0) < limit {
		c := cpuTime(pid)
		time.Sleep(2 * time.Second)
		if cpuTime(pid)-c < 100*time.Millisecond {
			if d := time.Since(t0); d > 5*time.Second {
				log.Printf("server idle after %.0f s of start-up work", d.Seconds())
			}
			return
		}
	}
	log.Printf("server still busy after %s; measuring anyway", limit)
}
