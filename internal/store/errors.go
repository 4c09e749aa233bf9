package store

import (
	"errors"
	"fmt"
	"io/fs"
)

// ErrUnavailable marks a failure of the storage itself (Redis stopped, a
// network partition, a device lock not obtained in time), as opposed to a
// key that does not exist or a record that does not parse. Callers answer
// it with "try again later" (HTTP 503 with Retry-After): nothing was
// decided, and what was written before the failure is ordered so that a
// retry repeats work rather than loses it.
var ErrUnavailable = errors.New("storage unavailable")

// unavailable wraps a storage error as ErrUnavailable, keeping its text for
// the log. fs.ErrNotExist and nil pass through.
func unavailable(err error) error {
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
