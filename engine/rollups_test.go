package engine

import (
	"context"
	"testing"
	"time"

	"github.com/rmmhq/rmm/store"
)

func TestRetentionRollsSamplesUpBeforeItArchivesThem(t *testing.T) {
	ctx := context.Background()
	f := newAlertFixture(t, AlertOptions{})
	e := engineWith(t, f)
	dev := f.devs["srv-1"].ID
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	var ms []store.Metric
	for h := range 24 * 20 { // twenty days of hourly polls, one in four failed
		ms = append(ms, store.Metric{DeviceID: dev, Type: MetricPollOK, Value: float64(min(1, h%4)), At: now.Add(-time.Duration(h) * time.Hour)})
	}
	if err := e.writer.AddMetrics(ctx, ms); err != nil {
		t.Fatal(err)
	}
	res, err := Call(ctx, e, SystemIdentity(), MaintainDB{ArchiveDir: t.TempDir(), RetentionOnly: true, Now: now,
		Retention: store.RetentionPolicy{Metrics: 7 * 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rollups.Samples != int64(len(ms)) || res.Retention.MetricsArchived < 12*24 {
		t.Fatalf("maintain %+v", res)
	}
	days, err := f.db.Rollups(ctx, store.RollupFilter{Period: store.PeriodDay, Types: []string{MetricPollOK}, From: now.AddDate(0, 0, -30), To: now})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	var ok float64
	for _, d := range days {
		n += d.N
		ok += d.Sum
	}
	if n != int64(len(ms)) || ok != float64(len(ms))*3/4 {
		t.Fatalf("daily rollups hold %d samples, %v ok; want %d and %v", n, ok, len(ms), float64(len(ms))*3/4)
	}
}
