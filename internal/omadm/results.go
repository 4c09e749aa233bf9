package omadm

import (
	"strconv"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// MaxCommandResults bounds the results kept for one command (data and
// names of all its Results items), or the server's MaxObjectSize and a
// margin when that is larger, so that one largest object always fits. A
// Get of a few hundred nodes returns far less; without a bound a device
// could grow one command record for the rest of its session.
const MaxCommandResults = 4 << 20

// resultOverhead is what a kept result costs beyond its strings (its JSON
// field names), so that empty items count too.
const resultOverhead = 64

// admitResult keeps r on cmd and returns 0, or returns 413 (logged),
// keeping nothing, when the command's results would pass their bound.
// Results may come after the command's Status, even in a later message of
// the package (a device splits a package at command boundaries), so the
// bound, not the command's state, is what stops a device growing a record.
func (x *exchange) admitResult(cmd *store.Command, r store.Result) syncml.Status {
	limit := max(MaxCommandResults, x.s.MaxObjectSize+64<<10)
	used := 0
	for i := range cmd.Results {
		used += resultSize(&cmd.Results[i])
	}
	if used+resultSize(&r) > limit {
		x.report.Notes = append(x.report.Notes, "results for "+cmd.ID+" refused: "+strconv.Itoa(used)+" bytes kept, "+
			strconv.Itoa(resultSize(&r))+" more would pass "+strconv.Itoa(limit))
		return syncml.StatusEntityTooLarge
	}
	cmd.Results = append(cmd.Results, r)
	return 0
}

func resultSize(r *store.Result) int {
	return len(r.Source) + len(r.Data) + len(r.Format) + len(r.Type) + resultOverhead
}
