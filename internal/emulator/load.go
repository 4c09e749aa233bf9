package emulator

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// LoadOptions shape a load run: Devices enroll, then each runs
// SessionsPerDevice sessions, with Workers at a time.
type LoadOptions struct {
	Devices           int
	SessionsPerDevice int
	Workers           int
	// KeyPool is how many RSA keys the devices share: generating a 2048-bit
	// key per device would cost the load generator more CPU than the server
	// spends. Keys are made before the clock starts.
	KeyPool int
	// Keys, when set, are the pool itself (KeyPool is then ignored): a
	// caller enrolling in several batches makes them once.
	Keys []*rsa.PrivateKey
	// Progress, if set, is told how far a phase is.
	Progress func(phase string, done, total int)
}

// PhaseResult measures one phase.
type PhaseResult struct {
	Count    int           `json:"count"`
	Errors   int           `json:"errors"`
	Duration time.Duration `json:"duration_ns"`
	PerSec   float64       `json:"per_second"`
	P50      time.Duration `json:"p50_ns"`
	P95      time.Duration `json:"p95_ns"`
	P99      time.Duration `json:"p99_ns"`
	// FirstError is one error, to start looking.
	FirstError string `json:"first_error,omitempty"`
	// Latencies are the phase's latencies, sorted: MergePhases takes the
	// percentiles of several phases from them.
	Latencies []time.Duration `json:"-"`
}

// MergePhases is one phase made of several (batches of one kind of work):
// counts, errors and durations add up, percentiles are taken over all
// their latencies, and the first error is the first phase's that has one.
func MergePhases(parts ...PhaseResult) PhaseResult {
	var out PhaseResult
	for _, p := range parts {
		out.Count += p.Count
		out.Errors += p.Errors
		out.Duration += p.Duration
		out.Latencies = append(out.Latencies, p.Latencies...)
		if out.FirstError == "" {
			out.FirstError = p.FirstError
		}
	}
	sort.Slice(out.Latencies, func(i, j int) bool { return out.Latencies[i] < out.Latencies[j] })
	out.P50, out.P95, out.P99 = percentile(out.Latencies, 0.50), percentile(out.Latencies, 0.95), percentile(out.Latencies, 0.99)
	if out.Duration > 0 {
		out.PerSec = float64(out.Count) / out.Duration.Seconds()
	}
	return out
}

// percentile of sorted latencies (0 when there are none).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// LoadResult is the outcome of a load run.
type LoadResult struct {
	Enrollments PhaseResult `json:"enrollments"`
	Sessions    PhaseResult `json:"sessions"`
	// Devices are the enrolled devices, for further runs.
	Devices []*Device `json:"-"`
}

// Load enrolls opts.Devices devices and runs their sessions, measuring
// each phase. Checks are made but only failures are counted.
func Load(ctx context.Context, o Options, lo LoadOptions) (*LoadResult, error) {
	o.defaults()
	if lo.Devices <= 0 || lo.Workers <= 0 {
		return nil, fmt.Errorf("load needs devices and workers > 0")
	}
	keys := lo.Keys
	if len(keys) == 0 {
		var err error
		if keys, err = NewKeyPool(lo.KeyPool); err != nil {
			return nil, err
		}
	}
	devices := make([]*Device, lo.Devices)
	for i := range devices {
		devices[i] = NewDevice(keys[i%len(keys)])
	}
	res := &LoadResult{}
	res.Enrollments = runPhase(ctx, "enroll", lo.Devices, lo.Workers, lo.Progress, func(i int) error {
		r := &Report{}
		if err := Enroll(ctx, o, devices[i], r); err != nil {
			return err
		}
		return failure(r)
	})
	for _, d := range devices {
		if d.Enrolled() {
			res.Devices = append(res.Devices, d)
		}
	}
	if len(res.Devices) == 0 || lo.SessionsPerDevice <= 0 {
		return res, nil
	}
	res.Sessions = LoadSessions(ctx, o, res.Devices, lo.SessionsPerDevice, lo.Workers, lo.Progress)
	return res, nil
}

// NewKeyPool makes n device keys (8 when n <= 0) for LoadOptions.Keys.
func NewKeyPool(n int) ([]*rsa.PrivateKey, error) {
	if n <= 0 {
		n = 8
	}
	keys := make([]*rsa.PrivateKey, n)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
}

// LoadSessions runs perDevice sessions of each enrolled device, round
// robin, with w workers. Sessions of one device run one at a time, as on a
// real device.
func LoadSessions(ctx context.Context, o Options, devices []*Device, perDevice, w int, progress func(string, int, int)) PhaseResult {
	o.defaults()
	locks := make([]sync.Mutex, len(devices))
	return runPhase(ctx, "sessions", len(devices)*perDevice, w, progress, func(i int) error {
		d := i % len(devices)
		locks[d].Lock()
		defer locks[d].Unlock()
		r := &Report{}
		if _, err := Session(ctx, o, devices[d], r, false); err != nil {
			return err
		}
		return failure(r)
	})
}

func failure(r *Report) error {
	for _, c := range r.Checks {
		if !c.Pass {
			return fmt.Errorf("%s: %s", c.Name, c.Detail)
		}
	}
	return nil
}

// runPhase runs n jobs with w workers and measures them.
func runPhase(ctx context.Context, name string, n, w int, progress func(string, int, int), job func(int) error) PhaseResult {
	lat := make([]time.Duration, n)
	var next, done, errs atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := job(i); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				lat[i] = time.Since(t)
				if d := done.Add(1); progress != nil {
					progress(name, int(d), n)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sorted := append([]time.Duration(nil), lat[:int(min(int64(n), done.Load()))]...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	out := PhaseResult{Count: int(done.Load()), Errors: int(errs.Load()), Duration: elapsed,
		PerSec: float64(done.Load()) / elapsed.Seconds(),
		P50:    percentile(sorted, 0.50), P95: percentile(sorted, 0.95), P99: percentile(sorted, 0.99),
		Latencies: sorted}
	if v, ok := firstErr.Load().(string); ok {
		out.FirstError = v
	}
	return out
}

// Print writes the load result as a table.
func (lr *LoadResult) Print(w io.Writer) {
	fmt.Fprintf(w, "%-12s %8s %8s %10s %10s %10s %10s %8s\n", "phase", "count", "errors", "per sec", "p50", "p95", "p99", "seconds")
	for _, p := range []struct {
		name string
		r    PhaseResult
	}{{"enrollments", lr.Enrollments}, {"sessions", lr.Sessions}} {
		fmt.Fprintf(w, "%-12s %8d %8d %10.1f %10s %10s %10s %8.1f\n", p.name, p.r.Count, p.r.Errors, p.r.PerSec,
			p.r.P50.Round(time.Microsecond), p.r.P95.Round(time.Microsecond), p.r.P99.Round(time.Microsecond), p.r.Duration.Seconds())
		if p.r.FirstError != "" {
			fmt.Fprintf(w, "  first error: %s\n", p.r.FirstError)
		}
	}
}
