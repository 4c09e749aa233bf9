package main

import "testing"

// TestEnrollBatches: every device is enrolled once, the measured batches
// differ by at most one device, and the first batch leaves each measured
// batch at least one.
func TestEnrollBatches(t *testing.T) {
	for _, c := range []struct{ devices, rounds, workers int }{
		{1000, 5, 8}, {10, 5, 8}, {35, 5, 8}, {2, 1, 8}, {1200, 4, 8}, {500, 3, 1}, {7, 3, 2},
	} {
		warm, batches := enrollBatches(c.devices, c.rounds, c.workers)
		total, lo, hi := warm, c.devices, 0
		for _, n := range batches {
			total += n
			lo, hi = min(lo, n), max(hi, n)
		}
		if total != c.devices || len(batches) != c.rounds || lo < 1 || hi-lo > 1 || warm < 1 {
			t.Errorf("%+v: first %d, batches %v", c, warm, batches)
		}
	}
}
