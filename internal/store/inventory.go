package store

import (
	"errors"
	"fmt"
)

// Bounds of what an enrolled device can make the server keep of its
// inventory. Everything a device reports with Replace or Add, and every
// client event type, is kept; without bounds one device could grow its
// inventory.json (read and rewritten whole at every change, and shown on
// the console and by GET /mdm/devices/<id>) without end. A real Windows
// device reports a few dozen nodes of a few hundred bytes (./DevInfo,
// ./DevDetail, ./Vendor/MSFT/...); the bounds leave it two orders of
// magnitude of room.
const (
	// MaxInventoryNodes bounds the nodes kept.
	MaxInventoryNodes = 2000
	// MaxInventoryEvents bounds the client event types (Alert 1224) kept;
	// Windows sends a handful (LoginStatus, AADUserToken).
	MaxInventoryEvents = 64
	// MaxInventoryURI bounds a node's LocURI or an event's type.
	MaxInventoryURI = 2048
	// MaxInventoryValue bounds one node or event value: inventory is
	// reported state, not files (large objects are Results of a Get).
	MaxInventoryValue = 64 << 10
	// MaxInventoryBytes bounds the keys and values of all nodes and events.
	MaxInventoryBytes = 1 << 20
	// MaxAlertData bounds the data of one kept generic alert; MaxAlerts of
	// them are kept.
	MaxAlertData = 4 << 10
)

// ErrInventoryLimit is a node, event or alert refused by the bounds above;
// nothing of it is kept.
var ErrInventoryLimit = errors.New("inventory limit")

// SetNode records a node value and reports whether it changed. A value
// that would exceed the bounds is refused with ErrInventoryLimit, and the
// inventory is left as it was. An inventory stored over the bounds (before
// they existed) still takes changes that do not grow it.
func (inv *Inventory) SetNode(uri, value string) (bool, error) {
	return inv.setIn(&inv.Nodes, "node", uri, value, MaxInventoryNodes)
}

// SetEventValue records the latest value of a client event type and
// reports whether it changed, within the same bounds as SetNode.
func (inv *Inventory) SetEventValue(typ, value string) (bool, error) {
	return inv.setIn(&inv.Events, "event", typ, value, MaxInventoryEvents)
}

// setIn sets key in *m (made when nil) within the bounds, at most maxKeys
// keys; kind names them in the refusal.
func (inv *Inventory) setIn(m *map[string]string, kind, key, value string, maxKeys int) (bool, error) {
	if *m == nil {
		*m = map[string]string{}
	}
	old, ok := (*m)[key]
	if ok && old == value {
		return false, nil
	}
	if err := inv.admit(kind, key, value, old, ok, len(*m), maxKeys); err != nil {
		return false, err
	}
	(*m)[key] = value
	return true, nil
}

// Set is SetNode for callers that only need to know of a change; a value
// over the bounds is not kept.
func (inv *Inventory) Set(uri, value string) bool {
	changed, _ := inv.SetNode(uri, value)
	return changed
}

// SetEvent is SetEventValue for callers that only need to know of a
// change; a value over the bounds is not kept.
func (inv *Inventory) SetEvent(typ, value string) bool {
	changed, _ := inv.SetEventValue(typ, value)
	return changed
}

// admit checks one new or changed entry against the bounds and, when it
// fits, counts it in the inventory's size.
func (inv *Inventory) admit(kind, key, value, old string, exists bool, count, maxCount int) error {
	switch {
	case len(key) > MaxInventoryURI:
		return fmt.Errorf("%w: %s name of %d bytes (at most %d)", ErrInventoryLimit, kind, len(key), MaxInventoryURI)
	case len(value) > MaxInventoryValue:
		return fmt.Errorf("%w: %s value of %d bytes (at most %d)", ErrInventoryLimit, kind, len(value), MaxInventoryValue)
	case !exists && count >= maxCount:
		return fmt.Errorf("%w: %d %ss kept already (at most %d)", ErrInventoryLimit, count, kind, maxCount)
	}
	grow := len(value) - len(old)
	if !exists {
		grow += len(key)
	}
	size := inv.Size()
	if grow > 0 && size+grow > MaxInventoryBytes {
		return fmt.Errorf("%w: %d bytes kept already, %d more would pass %d", ErrInventoryLimit, size, grow, MaxInventoryBytes)
	}
	inv.size = size + grow
	return nil
}

// Size is the bytes of the inventory's node and event names and values.
func (inv *Inventory) Size() int {
	if !inv.sized {
		n := 0
		for k, v := range inv.Nodes {
			n += len(k) + len(v)
		}
		for k, v := range inv.Events {
			n += len(k) + len(v)
		}
		inv.size, inv.sized = n, true
	}
	return inv.size
}
