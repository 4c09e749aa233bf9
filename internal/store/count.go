package store

import (
	"context"
	"sort"
	"time"
)

// FleetDays is how many days of enrollments DeviceCounts keeps, one count
// per day (the console's enrollment chart).
const FleetDays = 90

// Last-seen age buckets of DeviceCounts.LastSeen: the device's latest
// OMA-DM message was within an hour, a day, a week, 30 days, earlier, or
// never (no session yet).
var LastSeenBuckets = []string{"< 1 h", "< 1 day", "< 7 days", "< 30 days", "older", "never"}

// maxRenewalsListed bounds DeviceCounts.RenewalsDue.
const maxRenewalsListed = 20

// DeviceCounts summarises the fleet for an overview: devices per state,
// enrollments per day, how long ago enrolled devices were last seen, and
// the enrolled devices whose certificate is inside its renewal window.
type DeviceCounts struct {
	// AsOf is when the fleet was walked for these counts.
	AsOf    time.Time
	Total   int
	ByState map[DeviceState]int
	// EnrolledPerDay[i] counts the stored devices that enrolled on day
	// Since+i (UTC days, FleetDays of them, the last being today).
	EnrolledPerDay []int
	Since          time.Time
	// LastSeen counts enrolled devices per LastSeenBuckets entry.
	LastSeen []int
	// RenewalsOpen counts enrolled devices whose certificate expires
	// within the renewal period (or has expired).
	RenewalsOpen int
	// RenewalsDue lists the first of them, soonest expiry first (at most
	// 20).
	RenewalsDue []*Device
}

// SessionReader returns a device's latest session (nil when none), e.g.
// the OMA-DM server's, which also knows sessions not yet written.
type SessionReader func(ctx context.Context, id string) (*Session, error)

// CountDevices counts the fleet as of now; renewalPeriod is how long
// before expiry a certificate may be renewed, and sessions (nil: the
// stored ones) gives each enrolled device's last-seen time. It walks
// ListDevices pages and reads one session per enrolled device, so it
// costs about two reads per device; a store with an index may answer from
// it instead, behind this same signature.
func (s *Store) CountDevices(ctx context.Context, now time.Time, renewalPeriod time.Duration, sessions SessionReader) (*DeviceCounts, error) {
	if sessions == nil {
		sessions = s.Session
	}
	today := now.UTC().Truncate(24 * time.Hour)
	c := &DeviceCounts{
		AsOf:           now,
		ByState:        map[DeviceState]int{},
		EnrolledPerDay: make([]int, FleetDays),
		Since:          today.AddDate(0, 0, -(FleetDays - 1)),
		LastSeen:       make([]int, len(LastSeenBuckets)),
	}
	after := ""
	for {
		devs, next, err := s.ListDevices(ctx, "", after, MaxListLimit)
		if err != nil {
			return nil, err
		}
		for _, d := range devs {
			if err := count(ctx, c, d, now, renewalPeriod, sessions); err != nil {
				return nil, err
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	sort.Slice(c.RenewalsDue, func(i, j int) bool {
		return c.RenewalsDue[i].Certificate.NotAfter.Before(c.RenewalsDue[j].Certificate.NotAfter)
	})
	return c, nil
}

func count(ctx context.Context, c *DeviceCounts, d *Device, now time.Time, renewalPeriod time.Duration, sessions SessionReader) error {
	c.Total++
	c.ByState[d.State]++
	if day := int(d.EnrolledAt.UTC().Sub(c.Since) / (24 * time.Hour)); !d.EnrolledAt.Before(c.Since) && day < FleetDays {
		c.EnrolledPerDay[day]++
	}
	if d.State != StateEnrolled {
		return nil
	}
	if !d.Certificate.NotAfter.IsZero() && d.Certificate.NotAfter.Sub(now) <= renewalPeriod {
		c.RenewalsOpen++
		c.RenewalsDue = append(c.RenewalsDue, d)
		if len(c.RenewalsDue) > maxRenewalsListed {
			sort.Slice(c.RenewalsDue, func(i, j int) bool {
				return c.RenewalsDue[i].Certificate.NotAfter.Before(c.RenewalsDue[j].Certificate.NotAfter)
			})
			c.RenewalsDue = c.RenewalsDue[:maxRenewalsListed]
		}
	}
	sess, err := sessions(ctx, d.DeviceID)
	if err != nil {
		return err
	}
	c.LastSeen[lastSeenBucket(sess, now)]++
	return nil
}

// lastSeenBucket is the LastSeenBuckets index of a device's session.
func lastSeenBucket(sess *Session, now time.Time) int {
	if sess == nil || sess.LastSeen.IsZero() {
		return len(LastSeenBuckets) - 1
	}
	age := now.Sub(sess.LastSeen)
	for i, limit := range []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour} {
		if age < limit {
			return i
		}
	}
	return len(LastSeenBuckets) - 2
}
