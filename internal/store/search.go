package store

import (
	"context"
	"errors"
	"sort"
	"strings"
)

// DefaultSearchBudget bounds how many device records one FindDevices call
// examines, so a search that matches little never reads the whole fleet in
// one request: it returns what it found and a cursor to go on from.
const DefaultSearchBudget = 5000

// DeviceMatch reports whether a device belongs in a search's results.
type DeviceMatch func(*Device) bool

// TextMatch matches devices whose DeviceID, name or user contains q,
// without regard to case (an empty q matches every device).
func TextMatch(q string) DeviceMatch {
	q = strings.ToLower(strings.TrimSpace(q))
	return func(d *Device) bool {
		if q == "" {
			return true
		}
		for _, s := range []string{d.DeviceID, d.DeviceName, d.User} {
			if strings.Contains(strings.ToLower(s), q) {
				return true
			}
		}
		return false
	}
}

// FindDevices returns up to limit devices (optionally only of one state)
// after the cursor `after` that match, examining at most budget records
// of that state (DefaultSearchBudget when <= 0). next is the cursor of the next page: ""
// once the listing is exhausted, else the last device returned or examined,
// so a page may hold fewer than limit devices and still have a next one.
// It pages through ListDevices, so it follows however the store lists.
func (s *Store) FindDevices(ctx context.Context, state DeviceState, match DeviceMatch, after string, limit, budget int) (devs []*Device, next string, err error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	if budget <= 0 {
		budget = DefaultSearchBudget
	}
	for examined := 0; examined < budget; {
		page, pageNext, err := s.ListDevices(ctx, state, after, min(MaxListLimit, budget-examined))
		if err != nil {
			return nil, "", err
		}
		for _, d := range page {
			examined++
			after = d.DeviceID
			if match == nil || match(d) {
				devs = append(devs, d)
				if len(devs) == limit {
					if d.DeviceID == lastID(page) && pageNext == "" {
						return devs, "", nil
					}
					return devs, d.DeviceID, nil
				}
			}
		}
		if pageNext == "" {
			return devs, "", nil
		}
		after = pageNext
	}
	return devs, after, nil
}

func lastID(page []*Device) string {
	if len(page) == 0 {
		return ""
	}
	return page[len(page)-1].DeviceID
}

// FindLabeledDevices is FindDevices over the devices carrying label: the
// label index names them (one listing), and only those after the cursor
// are read, at most budget of them.
func (s *Store) FindLabeledDevices(ctx context.Context, label string, state DeviceState, match DeviceMatch, after string, limit, budget int) (devs []*Device, next string, err error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	if budget <= 0 {
		budget = DefaultSearchBudget
	}
	ids, err := s.LabelDevices(ctx, label)
	if err != nil {
		return nil, "", err
	}
	sort.Strings(ids)
	i := sort.SearchStrings(ids, after)
	for i < len(ids) && ids[i] <= after {
		i++
	}
	last := -1 // the last ID examined
	for examined := 0; i < len(ids) && examined < budget; i++ {
		examined++
		last = i
		d, err := s.Device(ctx, ids[i])
		if errors.Is(err, ErrNotFound) {
			continue // an index entry outliving its device
		}
		if err != nil {
			return nil, "", err
		}
		if (state == "" || d.State == state) && (match == nil || match(d)) {
			devs = append(devs, d)
			if len(devs) == limit {
				break
			}
		}
	}
	if last >= 0 && last < len(ids)-1 {
		return devs, ids[last], nil
	}
	return devs, "", nil
}
