package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestInventoryPutGetReplaceAndAges(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	if _, err := db.UpsertDevices(ctx, []DeviceInput{{Hostname: "WS-1"}, {Hostname: "WS-2"}}); err != nil {
		t.Fatal(err)
	}
	devs, err := db.ListDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id1, id2 := devs[0].ID, devs[1].ID

	if _, err := db.GetInventory(ctx, id1, "hardware"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetInventory before any collection: err = %v, want ErrNotFound", err)
	}
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	if err := db.PutInventory(ctx, Inventory{DeviceID: id1, Category: "hardware", Data: json.RawMessage(`{"v":1}`), CollectedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutInventory(ctx, Inventory{DeviceID: id1, Category: "hardware", Data: json.RawMessage(`{"v":2}`), CollectedAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutInventory(ctx, Inventory{DeviceID: id2, Category: "software", Data: json.RawMessage(`{}`), CollectedAt: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetInventory(ctx, id1, "hardware")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data) != `{"v":2}` || !got.CollectedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("GetInventory = %s at %s, want the second document at %s", got.Data, got.CollectedAt, t0.Add(time.Hour))
	}
	ages, err := db.InventoryCollected(ctx, "hardware")
	if err != nil {
		t.Fatal(err)
	}
	if len(ages) != 1 || !ages[id1].Equal(t0.Add(time.Hour)) {
		t.Fatalf("InventoryCollected(hardware) = %v, want only device %d", ages, id1)
	}
	if err := db.PutInventory(ctx, Inventory{DeviceID: id1, Category: "hardware", Data: json.RawMessage(`{not json`), CollectedAt: t0}); err == nil {
		t.Fatal("PutInventory accepted a document that is not JSON")
	}
	if err := db.PutInventory(ctx, Inventory{DeviceID: id1, Data: json.RawMessage(`{}`), CollectedAt: t0}); err == nil {
		t.Fatal("PutInventory accepted an empty category")
	}
}
