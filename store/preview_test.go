package store

import (
	"context"
	"testing"
)

// PreviewInput (an import's dry run) must say exactly what UpsertDevices
// then does: for each input over a stored device, the device it predicts
// is the device stored.
func TestPreviewInputPredictsWhatTheImportStores(t *testing.T) {
	ctx := context.Background()
	yes, no := true, false
	base := DeviceInput{Hostname: "WS-001", FQDN: "ws-001.corp.example", IP: "10.0.0.1", Site: "hq", Tags: []string{"sql", "prod"},
		Groups: []string{"Finance"}, Port: 5985, Transport: "http", Description: "old", Custom: map[string]string{"Owner": "ann"},
		AllowUnencrypted: &yes}
	for _, tt := range []struct {
		name    string
		in      DeviceInput
		changes int
	}{
		{"the same row changes nothing", base, 0},
		{"empty cells keep the stored values", DeviceInput{Hostname: "WS-001"}, 0},
		{"a new IP and site", DeviceInput{Hostname: "ws-001", IP: "10.0.0.2", Site: "Lon"}, 2},
		{"https moves a default port", DeviceInput{Hostname: "WS-001", Transport: "https"}, 2},
		{"tags and groups in another order are the same", DeviceInput{Hostname: "WS-001", Tags: []string{"PROD", "sql"}, Groups: []string{"finance"}}, 0},
		{"a custom field and a flag", DeviceInput{Hostname: "WS-001", Custom: map[string]string{"owner": "bob"}, AllowUnencrypted: &no, LoopOff: &yes}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := openTestDB(t)
			if _, err := db.UpsertDevices(ctx, []DeviceInput{base}); err != nil {
				t.Fatal(err)
			}
			before, err := db.DeviceByHostname(ctx, "WS-001")
			if err != nil {
				t.Fatal(err)
			}
			predicted := applyInput(before, true, tt.in)
			changes := PreviewInput(before, true, tt.in)
			if _, err := db.UpsertDevices(ctx, []DeviceInput{tt.in}); err != nil {
				t.Fatal(err)
			}
			after, err := db.DeviceByHostname(ctx, "WS-001")
			if err != nil {
				t.Fatal(err)
			}
			if d := DiffDevices(predicted, after); len(d) > 0 {
				t.Errorf("the preview differs from what was stored: %v", d)
			}
			if len(changes) != tt.changes || len(DiffDevices(before, after)) != tt.changes {
				t.Errorf("changes %v (stored: %v), want %d", changes, DiffDevices(before, after), tt.changes)
			}
		})
	}
	// A new device: its values, as added.
	db := openTestDB(t)
	in := DeviceInput{Hostname: "NEW-1", IP: "10.0.0.9"}
	predicted := applyInput(Device{}, false, in)
	if _, err := db.UpsertDevices(ctx, []DeviceInput{in}); err != nil {
		t.Fatal(err)
	}
	after, _ := db.DeviceByHostname(ctx, "NEW-1")
	if d := DiffDevices(predicted, after); len(d) > 0 {
		t.Errorf("a new device: the preview differs from what was stored: %v", d)
	}
}
