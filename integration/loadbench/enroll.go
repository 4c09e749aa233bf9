package main

import (
	"context"
	"log"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/emulator"
)

// enrollResult is the enrollment phase: server CPU per enrollment and the
// full-handshake floor measured between its batches.
type enrollResult struct {
	cpuMS   float64
	floor   floorResult
	phase   emulator.PhaseResult
	devices []*emulator.Device
}

// enrollInterleaved enrolls o.devices devices: a first batch (unmeasured:
// it makes the device certificates the floor requests present), then
// o.rounds batches, each after a burst of floor requests. The machine is
// shared, so its load drifts over minutes; a floor taken between the
// batches sees the same load as the enrollments it is compared with.
func enrollInterleaved(srv *server, pid int, o options, floorBody []byte) enrollResult {
	opts := srv.options()
	keys, err := emulator.NewKeyPool(16)
	check(err)
	// What a batch leaves the server to finish (closing its connections,
	// the collection of its garbage) is charged to the batch, not to the
	// floor burst after it: the batch's window ends a second after it.
	load := func(n int) (*emulator.LoadResult, time.Duration) {
		c := cpuTime(pid)
		lr, err := emulator.Load(context.Background(), opts, emulator.LoadOptions{Devices: n, Workers: o.workers, Keys: keys})
		check(err)
		time.Sleep(time.Second)
		return lr, cpuTime(pid) - c
	}
	warm := min(o.devices, max(4*o.workers, o.devices/(o.rounds+1)))
	first, _ := load(warm)
	if len(first.Devices) == 0 {
		log.Fatalf("no device enrolled: %s", first.Enrollments.FirstError)
	}
	res := enrollResult{devices: first.Devices}
	floor := newFloorClient(srv.addr(), floorHost, srv.roots, floorBody, first.Devices)
	rounds := max(1, o.rounds)
	perBatch := max(1, (o.devices-warm)/rounds)
	floorPerBatch := max(1, o.floorRequests/rounds)
	var cpu time.Duration
	var p50s []time.Duration
	for r := range rounds {
		n := perBatch
		if r == rounds-1 {
			n = o.devices - warm - perBatch*(rounds-1)
		}
		if n <= 0 {
			break
		}
		res.floor = addFloor(res.floor, floor.measure(pid, floorPerBatch, o.workers, false))
		lr, c := load(n)
		cpu += c
		ph := lr.Enrollments
		res.phase.Count += ph.Count
		res.phase.Errors += ph.Errors
		res.phase.Duration += ph.Duration
		res.phase.P99 = max(res.phase.P99, ph.P99)
		p50s = append(p50s, ph.P50)
		if res.phase.FirstError == "" {
			res.phase.FirstError = ph.FirstError
		}
		res.devices = append(res.devices, lr.Devices...)
	}
	res.phase.P50 = median(p50s)
	res.phase.PerSec = float64(res.phase.Count) / max(res.phase.Duration.Seconds(), 1e-9)
	res.cpuMS = ms(cpu) / float64(max(1, res.phase.Count))
	return res
}
