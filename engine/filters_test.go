package engine_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/filter"
)

// The alert filter is the device grammar over an alert's fields: what the
// console's alerts view and rmm alerts --filter read.
func TestTheAlertFilterReadsTheDeviceGrammarOverAlerts(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	alerts := []engine.Alert{
		{ID: 1, Hostname: "WS-0042", Type: engine.AlertTypeDisk, Instance: "C:", Severity: engine.SeverityCritical, State: engine.AlertActive, Message: "disk C: 93% used", Count: 14, FirstSeen: now},
		{ID: 2, Hostname: "WS-0042", Type: engine.AlertTypeOffline, Severity: engine.SeverityHigh, State: engine.AlertAcknowledged, Message: "offline", Count: 3, FirstSeen: now},
		{ID: 3, Hostname: "SRV-0001", Type: engine.AlertTypeCPU, Severity: engine.SeverityMedium, State: engine.AlertActive, Message: "CPU 91%", Count: 1, FirstSeen: now},
		{ID: 4, Type: engine.AlertTypeCredentialUnavailable, Instance: "polling", Severity: engine.SeverityHigh, State: engine.AlertActive, Message: "polling is off", Count: 1},
	}
	for _, tt := range []struct {
		expr string
		want []int64
	}{
		{"", []int64{1, 2, 3, 4}},
		{"host:ws-0042", []int64{1, 2}},
		{"sev:crit", []int64{1}},
		{"!sev:crit state:active", []int64{3, 4}},
		{"type:disk on:C:", []int64{1}},
		{`msg:"93%"`, []int64{1}},
		{"count>2", []int64{1, 2}},
		{"polling", []int64{4}},
		{"state=acknowledged", []int64{2}},
	} {
		f, err := engine.ParseAlertFilter(tt.expr)
		if err != nil {
			t.Fatalf("%q: %v", tt.expr, err)
		}
		var got []int64
		for i := range alerts {
			if f.Match(&alerts[i]) {
				got = append(got, alerts[i].ID)
			}
		}
		if len(got) != len(tt.want) || !equalIDs(got, tt.want) {
			t.Errorf("%q matches %v, want %v", tt.expr, got, tt.want)
		}
	}
	if _, err := engine.ParseAlertFilter("colour:red"); !errors.As(err, new(*filter.Error)) {
		t.Errorf("an unknown field: %v, want a *filter.Error", err)
	}
	f, err := engine.ParseAlertFilter("sev:high sort:-count")
	if key, desc, ok := f.Sort(); err != nil || key != "count" || !desc || !ok {
		t.Errorf("sort: %q %v %v %v", key, desc, ok, err)
	}
}

func equalIDs(a, b []int64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}
