package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// listView is one page of the device list.
type listView struct {
	Q, State, Label string
	States          []store.DeviceState
	Rows            []deviceRow
	// Exact is the device whose ID is the query, shown first.
	Exact *deviceRow
	// NextURL continues the search after this page ("" on the last).
	NextURL string
	// Partial says the page stopped at the search budget, not at the end.
	Partial bool
}

// maxQuery bounds the search text.
const maxQuery = 200

func (h *Handler) devices(w http.ResponseWriter, r *http.Request, p *page) {
	q := r.URL.Query()
	v := listView{Q: strings.TrimSpace(q.Get("q")), State: q.Get("state"), Label: strings.TrimSpace(q.Get("label")), States: deviceStates}
	if len(v.Q) > maxQuery {
		h.fail(w, p, http.StatusBadRequest, "search text over 200 characters")
		return
	}
	state := store.DeviceState(v.State)
	switch state {
	case "", store.StateEnrolled, store.StateUnenrolled, store.StateRetired:
	default:
		h.fail(w, p, http.StatusBadRequest, "state "+v.State+": want enrolled, unenrolled or retired")
		return
	}
	ctx := r.Context()
	after := q.Get("after")
	// A query that is a DeviceID finds the device in one read, whatever
	// the page.
	if after == "" && v.Label == "" && v.Q != "" && store.ValidDeviceID(v.Q) {
		if d, err := h.Backend.Device(ctx, v.Q); err == nil {
			row := newDeviceRow(&d.Device)
			v.Exact = &row
		} else if statusOf(err) != http.StatusNotFound {
			h.failErr(w, p, err)
			return
		}
	}
	var (
		devs []*store.Device
		next string
		err  error
	)
	if v.Label != "" {
		if !store.ValidLabel(v.Label) {
			h.fail(w, p, http.StatusBadRequest, "label "+v.Label+": labels are 1 to 64 of a-z, 0-9, '.', '_', '-', ':'")
			return
		}
		devs, next, err = h.Backend.FindLabeledDevices(ctx, v.Label, state, store.TextMatch(v.Q), after, h.PageSize)
	} else {
		devs, next, err = h.Backend.FindDevices(ctx, state, store.TextMatch(v.Q), after, h.PageSize)
	}
	if err != nil {
		h.failErr(w, p, err)
		return
	}
	for _, d := range devs {
		if v.Exact != nil && d.DeviceID == v.Exact.ID {
			continue
		}
		v.Rows = append(v.Rows, newDeviceRow(d))
	}
	if next != "" {
		nq := url.Values{"after": {next}}
		if v.Q != "" {
			nq.Set("q", v.Q)
		}
		if v.State != "" {
			nq.Set("state", v.State)
		}
		if v.Label != "" {
			nq.Set("label", v.Label)
		}
		v.NextURL = p.Prefix + "/devices?" + nq.Encode()
		v.Partial = len(devs) < h.PageSize
	}
	p.Title, p.Nav, p.Body = "Devices", "devices", v
	h.render(w, http.StatusOK, "devices", p)
}
