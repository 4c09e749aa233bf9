// Package dump keeps each device's latest exchanges, secrets redacted, in
// the store (its trace, read with `caddy mdm trace`), in the manner of
// nanomdm's service/dump: a recorder the services call, so the rule of what
// is kept lives beside them and not in the HTTP layer. The OMA-DM server
// calls it for authenticated exchanges only, under the device's lock; the
// enrollment handler for enrollments and renewals that succeeded.
package dump

import (
	"context"
	"net/http"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/omadm"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/trace"
)

// Kinds of traced exchanges.
const (
	KindEnrollment = "enrollment"
	KindRenewal    = "renewal"
	KindManagement = "management"
)

// Recorder writes exchanges to devices' traces, keeping the last Keep of
// each (and the store's byte bounds).
type Recorder struct {
	Store *store.Store
	Keep  int
	Now   func() time.Time
}

// RecordManagement implements omadm.Recorder. The caller holds the device
// lock.
func (r *Recorder) RecordManagement(ctx context.Context, deviceID string, request, response []byte, sensitive omadm.SensitiveCmdIDs) error {
	return r.Store.AppendTraceLocked(ctx, deviceID, store.Exchange{
		At: r.Now(), Kind: KindManagement, Status: http.StatusOK,
		Request:  trace.SyncML(request, sensitive.Request...),
		Response: trace.SyncML(response, sensitive.Reply...),
	}, r.Keep)
}

// RecordEnrollment keeps an enrollment or renewal that succeeded: only
// then is the device known to be who it says.
func (r *Recorder) RecordEnrollment(ctx context.Context, deviceID, kind string, status int, request, response []byte) error {
	return r.Store.AppendTrace(ctx, deviceID, store.Exchange{
		At: r.Now(), Kind: kind, Status: status,
		Request: trace.SOAP(request), Response: trace.SOAP(response),
	}, r.Keep)
}

var _ omadm.Recorder = (*Recorder)(nil)
