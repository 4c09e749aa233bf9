package caddymdm

import (
	"net/http"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// ClusterStatus is what GET /mdm/cluster answers: this node, whether device
// locks span the cluster, and the fleet counted by state from the device
// index (no record is read).
type ClusterStatus struct {
	// The ID this node writes in the sessions it serves and in its heartbeat.
	NodeID string `json:"node_id"`
	// Whether device locks are taken in the shared storage (false on
	// Caddy's file storage, one node's).
	DistributedLocks bool `json:"distributed_locks"`
	// Devices per state, from the index.
	Devices map[store.DeviceState]int `json:"devices"`
	// Their sum.
	Total int `json:"total"`
}

// serveCluster answers GET /mdm/cluster.
func (a *AdminAPI) serveCluster(w http.ResponseWriter, r *http.Request, app *App) error {
	return a.only(r, http.MethodGet, func() error {
		counts, err := app.store.DeviceStateCounts(r.Context())
		if err != nil {
			return apiError(http.StatusServiceUnavailable, "counting devices: %v", err)
		}
		out := ClusterStatus{NodeID: app.management.NodeID, DistributedLocks: app.store.DistributedLocks(), Devices: counts}
		for _, n := range counts {
			out.Total += n
		}
		return writeJSON(w, http.StatusOK, out)
	})
}
