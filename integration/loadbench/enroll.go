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

// enrollBatches splits devices into a first, unmeasured batch (it makes
// the certificates the floor requests present) and rounds measured ones
// of nearly equal size. It fails when fewer than rounds devices would be
// left to measure.
func enrollBatches(devices, rounds, workers int) (warm int, batches []int) {
	warm = max(1, min(max(4*workers, devices/(rounds+1)), devices/2))
	rest := devices - warm
	if rounds < 1 || rest < rounds {
		log.Fatalf("enrolling %d devices in %d measured batches needs at least %d devices", devices, rounds, 2*max(1, rounds))
	}
	for r := range rounds {
		batches = append(batches, rest*(r+1)/rounds-rest*r/rounds)
	}
	return warm, batches
}

// enrollInterleaved enrolls o.devices devices: the first batch, then
// o.rounds batches, each after a burst of floor requests. The machine is
// shared, so its load drifts over minutes; a floor taken between the
// batches sees the same load as the enrollments it is compared with.
func enrollInterleaved(srv *server, pid int, o options, floorBody []byte) enrollResult {
	opts := srv.options()
	keys, err := emulator.NewKeyPool(16)
	check(err)
	// Each batch's window ends a second after it (see settle).
	load := func(n int) (*emulator.LoadResult, time.Duration) {
		c := cpuTime(pid)
		lr, err := emulator.Load(context.Background(), opts, emulator.LoadOptions{Devices: n, Workers: o.workers, Keys: keys})
		check(err)
		time.Sleep(settle)
		return lr, cpuTime(pid) - c
	}
	warm, batches := enrollBatches(o.devices, o.rounds, o.workers)
	first, _ := load(warm)
	if len(first.Devices) == 0 {
		log.Fatalf("no device enrolled: %s", first.Enrollments.FirstError)
	}
	if e := first.Enrollments.Errors; e > 0 {
		log.Printf("first (unmeasured) batch: %d of %d enrollments failed: %s", e, warm, first.Enrollments.FirstError)
	}
	res := enrollResult{devices: first.Devices}
	floor := newFloorClient(srv.addr(), floorHost, srv.roots, floorBody, first.Devices)
	floorPerBatch := max(1, o.floorRequests/len(batches))
	var cpu time.Duration
	var phases []emulator.PhaseResult
	for _, n := range batches {
		res.floor = addFloor(res.floor, floor.measure(pid, floorPerBatch, o.workers, false))
		lr, c := load(n)
		cpu += c
		phases = append(phases, lr.Enrollments)
		res.devices = append(res.devices, lr.Devices...)
	}
	res.phase = emulator.MergePhases(phases...)
	if res.phase.Count == 0 || res.floor.n == 0 {
		log.Fatalf("enrollment measured nothing: %d enrollments, %d floor requests", res.phase.Count, res.floor.n)
	}
	res.cpuMS = ms(cpu) / float64(res.phase.Count)
	return res
}
