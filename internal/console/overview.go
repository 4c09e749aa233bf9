package console

import (
	"html/template"
	"net/http"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// overviewView is the fleet overview.
type overviewView struct {
	Counts *store.DeviceCounts
	States []stateCount
	// EnrolledInWindow counts the enrollments the day chart shows.
	EnrolledInWindow int
	StateChart       template.HTML
	DaysChart        template.HTML
	SeenChart        template.HTML
	Renewals         []deviceRow
	Profiles         []profileRow
}

type stateCount struct {
	State store.DeviceState
	Count int
}

// deviceStates are the states in display order.
var deviceStates = []store.DeviceState{store.StateEnrolled, store.StateUnenrolled, store.StateRetired}

// newOverview turns the fleet's counts into the overview's view and charts.
func newOverview(c *store.DeviceCounts) overviewView {
	v := overviewView{Counts: c}
	var states []Bar
	for _, s := range deviceStates {
		v.States = append(v.States, stateCount{s, c.ByState[s]})
		states = append(states, Bar{Label: string(s), Value: c.ByState[s], Class: string(s)})
	}
	v.StateChart = HBarChart("Devices by state", states)
	days := make([]Bar, len(c.EnrolledPerDay))
	for i, n := range c.EnrolledPerDay {
		days[i] = Bar{Label: c.Since.AddDate(0, 0, i).Format("01-02"), Value: n, Class: "enrolled"}
		v.EnrolledInWindow += n
	}
	v.DaysChart = VBarChart("Enrollments per day, last 90 days", days, 15)
	seen := make([]Bar, len(c.LastSeen))
	for i, n := range c.LastSeen {
		seen[i] = Bar{Label: store.LastSeenBuckets[i], Value: n, Class: "seen"}
	}
	v.SeenChart = HBarChart("Enrolled devices by time since last seen", seen)
	for _, d := range c.RenewalsDue {
		v.Renewals = append(v.Renewals, newDeviceRow(d))
	}
	return v
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request, p *page) {
	c, err := h.Backend.Counts(r.Context())
	if err != nil {
		h.failErr(w, p, err)
		return
	}
	v := newOverview(c)
	if v.Profiles, err = h.profileRows(r); err != nil {
		h.failErr(w, p, err)
		return
	}
	p.Title, p.Nav, p.Body = "Fleet overview", "overview", v
	h.render(w, http.StatusOK, "overview", p)
}

// deviceRow is a device in a table.
type deviceRow struct {
	ID, Name, User, OS string
	State              store.DeviceState
	EnrolledAt         time.Time
	CertNotAfter       time.Time
}

func newDeviceRow(d *store.Device) deviceRow {
	return deviceRow{ID: d.DeviceID, Name: d.DeviceName, User: d.User, OS: d.OSVersion, State: d.State,
		EnrolledAt: d.EnrolledAt, CertNotAfter: d.Certificate.NotAfter}
}
