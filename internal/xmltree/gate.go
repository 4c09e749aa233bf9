package xmltree

import "context"

// Gate bounds how many documents are parsed at once, so that concurrent
// large requests cannot multiply the memory one parse may take (Limits
// bounds each one). Waiting costs only the request's body, already read.
type Gate chan struct{}

// NewGate returns a gate admitting n parses at a time (at least 1).
func NewGate(n int) Gate {
	if n < 1 {
		n = 1
	}
	return make(Gate, n)
}

// Enter waits for a slot, or for ctx to end. The caller calls leave once its
// tree is no longer needed.
func (g Gate) Enter(ctx context.Context) (leave func(), err error) {
	select {
	case g <- struct{}{}:
		return func() { <-g }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
