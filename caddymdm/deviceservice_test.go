package caddymdm

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/omadm"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// TestServiceStatus: the admin API and the console answer a service error
// with the same status; a storage outage is 503 (come back), not 500.
func TestServiceStatus(t *testing.T) {
	for err, want := range map[error]int{
		fmt.Errorf("device x: %w", store.ErrNotFound):                         http.StatusNotFound,
		fmt.Errorf("%w: reason over 500 bytes", errBadRequest):                http.StatusBadRequest,
		fmt.Errorf("%w: 10000 pending", omadm.ErrQueueFull):                   http.StatusTooManyRequests,
		fmt.Errorf("loading x: %w: connection refused", store.ErrUnavailable): http.StatusServiceUnavailable,
		fmt.Errorf("something else"):                                          http.StatusInternalServerError,
	} {
		if got := serviceStatus(err); got != want {
			t.Errorf("%v: %d, want %d", err, got, want)
		}
	}
}
