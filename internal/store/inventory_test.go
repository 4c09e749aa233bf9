package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestInventoryBounds: nodes, events and alerts beyond their bounds are
// refused and leave the inventory as it was; changes that do not grow an
// inventory are taken.
func TestInventoryBounds(t *testing.T) {
	inv := &Inventory{}
	for i := 0; i < MaxInventoryNodes; i++ {
		if changed, err := inv.SetNode(fmt.Sprintf("./Vendor/X/%d", i), "v"); err != nil || !changed {
			t.Fatalf("node %d: %v %v", i, changed, err)
		}
	}
	if _, err := inv.SetNode("./Vendor/X/one-more", "v"); !errors.Is(err, ErrInventoryLimit) {
		t.Fatalf("node beyond the count: %v", err)
	}
	if _, ok := inv.Nodes["./Vendor/X/one-more"]; ok {
		t.Fatal("a refused node was kept")
	}
	if changed, err := inv.SetNode("./Vendor/X/7", "w"); err != nil || !changed {
		t.Fatalf("replacing a kept node at the count: %v %v", changed, err)
	}
	if changed, _ := inv.SetNode("./Vendor/X/7", "w"); changed {
		t.Error("the same value reported a change")
	}

	inv = &Inventory{}
	if _, err := inv.SetNode("./a", strings.Repeat("x", MaxInventoryValue+1)); !errors.Is(err, ErrInventoryLimit) {
		t.Errorf("value over MaxInventoryValue: %v", err)
	}
	if _, err := inv.SetNode("./"+strings.Repeat("a", MaxInventoryURI), "v"); !errors.Is(err, ErrInventoryLimit) {
		t.Errorf("LocURI over MaxInventoryURI: %v", err)
	}
	big := strings.Repeat("x", MaxInventoryValue)
	i := 0
	for ; ; i++ {
		_, err := inv.SetNode(fmt.Sprintf("./n/%d", i), big)
		if errors.Is(err, ErrInventoryLimit) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if inv.Size() > MaxInventoryBytes || len(inv.Nodes) != i || i == 0 {
		t.Fatalf("size %d after %d nodes", inv.Size(), i)
	}
	// Shrinking a value is always taken, and makes room.
	if _, err := inv.SetNode("./n/0", "small"); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.SetNode(fmt.Sprintf("./n/%d", i), "fits now"); err != nil {
		t.Errorf("after shrinking: %v", err)
	}

	inv = &Inventory{}
	for i := 0; i < MaxInventoryEvents; i++ {
		if _, err := inv.SetEventValue(fmt.Sprintf("type-%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := inv.SetEventValue("type-too-many", "v"); !errors.Is(err, ErrInventoryLimit) || len(inv.Events) != MaxInventoryEvents {
		t.Errorf("event beyond the count: %v, %d kept", err, len(inv.Events))
	}
	if inv.SetEvent("type-3", "new") != true || inv.Events["type-3"] != "new" {
		t.Error("a kept event type did not change")
	}
	if err := inv.AddAlert(AlertRecord{Code: "1226", Data: strings.Repeat("x", MaxAlertData+1)}); !errors.Is(err, ErrInventoryLimit) || len(inv.Alerts) != 0 {
		t.Errorf("alert over MaxAlertData: %v, %d kept", err, len(inv.Alerts))
	}
}
