package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// alertAnswers collects what the Writer's done callbacks report, in the
// order they are called.
type alertAnswers struct {
	mu  sync.Mutex
	got [][]AlertResult
}

func (a *alertAnswers) done(res []AlertResult) {
	a.mu.Lock()
	a.got = append(a.got, res)
	a.mu.Unlock()
}

func (a *alertAnswers) all() [][]AlertResult {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.got
}

func detect(d AlertDetection, reopenSince time.Time) AlertOp {
	return AlertOp{Detection: d, ReopenSince: reopenSince}
}

func resolveOp(k AlertKey, at time.Time) AlertOp {
	return AlertOp{Detection: AlertDetection{Key: k, At: at}, Resolve: true, ResolvedBy: "rmm"}
}

func TestTheWriterCarriesAlertChangesOutInOrderWithRecordAlertsRules(t *testing.T) {
	db := openTestDB(t)
	dev := seedDevices(t, db, 1)[0]
	w := NewWriter(db, WriterOptions{BatchRows: 1000, FlushInterval: time.Hour})
	w.Start()
	defer w.Close()
	ctx := context.Background()
	at := func(m int) time.Time { return alertT0.Add(time.Duration(m) * time.Minute) }
	window := 5 * time.Minute
	var answers alertAnswers

	// One batch: raise, bump, resolve, and reopen within the window, all
	// queued before anything is committed.
	cpu := detection(dev, "cpu_high", "", SeverityMedium, at(0))
	steps := [][]AlertOp{
		{detect(cpu, at(0).Add(-window))},
		{detect(detection(dev, "cpu_high", "", SeverityCritical, at(5)), at(5).Add(-window)),
			detect(detection(dev, "disk_used", "C:", SeverityMedium, at(5)), at(5).Add(-window))},
		{resolveOp(cpu.Key, at(6))},
		{detect(detection(dev, "cpu_high", "", SeverityMedium, at(8)), at(8).Add(-window))},
	}
	for _, ops := range steps {
		if err := w.AddAlerts(ctx, ops, answers.done); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := answers.all() // every done ran before Flush returned
	if len(got) != 4 {
		t.Fatalf("%d answers after Flush, want 4", len(got))
	}
	first := got[0][0]
	if first.Err != nil || first.Change != AlertInserted || first.Alert.Hostname != "dev-000" || first.Alert.Count != 1 {
		t.Fatalf("raise: %+v", first)
	}
	if r := got[1][0]; r.Change != AlertBumped || r.Alert.ID != first.Alert.ID || r.Alert.Count != 2 ||
		r.Alert.Severity != SeverityCritical {
		t.Errorf("bump: %+v", r)
	}
	if r := got[1][1]; r.Change != AlertInserted || r.Alert.Instance != "C:" {
		t.Errorf("second condition: %+v", r)
	}
	if r := got[2][0]; !r.Resolved || r.Alert.State != AlertResolved || !r.Alert.AutoResolved || r.Alert.ResolvedBy != "rmm" {
		t.Errorf("resolve: %+v", r)
	}
	if r := got[3][0]; r.Change != AlertReopened || r.Alert.ID != first.Alert.ID || r.Alert.Count != 3 ||
		r.Alert.State != AlertActive {
		t.Errorf("reopen: %+v", r)
	}
	stored, err := db.GetAlert(ctx, first.Alert.ID)
	if err != nil || stored != got[3][0].Alert {
		t.Errorf("stored %+v (%v), want what the writer answered %+v", stored, err, got[3][0].Alert)
	}
	if s := w.Stats(); s.Rows != 5 || s.Batches != 1 || s.Failed != 0 {
		t.Errorf("stats %+v, want 5 changes in 1 batch", s)
	}
}

func TestTheWriterUndoesARefusedAlertChangeAloneAndCommitsTheRest(t *testing.T) {
	db := openTestDB(t)
	dev := seedDevices(t, db, 1)[0]
	ctx := context.Background()
	if _, err := db.writer.ExecContext(ctx, `CREATE TEMP TRIGGER refuse BEFORE INSERT ON alerts
		WHEN NEW.type = 'refused' BEGIN SELECT RAISE(ABORT, 'constraint says no'); END`); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(db, WriterOptions{BatchRows: 1000, FlushInterval: time.Hour})
	w.Start()
	defer w.Close()
	var answers alertAnswers
	if err := w.AddMetrics(ctx, metricsFor(dev, 3)); err != nil {
		t.Fatal(err)
	}
	ops := []AlertOp{
		detect(detection(dev, "cpu_high", "", SeverityHigh, alertT0), alertT0),
		detect(detection(dev, "refused", "", SeverityHigh, alertT0), alertT0),
		detect(detection(dev, "mem_high", "", SeverityHigh, alertT0), alertT0),
	}
	if err := w.AddAlerts(ctx, ops, answers.done); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("a refused alert failed the batch: %v", err)
	}
	res := answers.all()[0]
	if res[0].Err != nil || res[2].Err != nil || res[0].Change != AlertInserted || res[2].Change != AlertInserted {
		t.Errorf("the accepted changes: %+v, %+v", res[0], res[2])
	}
	if res[1].Err == nil || !strings.Contains(res[1].Err.Error(), "constraint says no") ||
		!strings.Contains(res[1].Err.Error(), "record alert refused") {
		t.Errorf("the refused change: %+v", res[1])
	}
	as, err := db.ListAlerts(ctx, AlertFilter{})
	if err != nil || len(as) != 2 {
		t.Errorf("stored alerts %+v %v, want cpu_high and mem_high", as, err)
	}
	if n := countMetrics(t, db); n != 3 {
		t.Errorf("%d metrics, want 3", n)
	}
	if s := w.Stats(); s.Failed != 1 || w.Err() != nil {
		t.Errorf("stats %+v, err %v: want 1 refused change and no writer error", s, w.Err())
	}
}

func TestTheWriterDropsAlertChangesOfADeletedDevice(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 2)
	ctx := context.Background()
	if _, err := db.writer.ExecContext(ctx, `DELETE FROM devices WHERE id = ?`, ids[1]); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(db, WriterOptions{})
	w.Start()
	var answers alertAnswers
	err := w.AddAlerts(ctx, []AlertOp{
		detect(detection(ids[1], "cpu_high", "", SeverityHigh, alertT0), alertT0),
		detect(detection(ids[0], "cpu_high", "", SeverityHigh, alertT0), alertT0),
	}, answers.done)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("a deleted device failed the batch: %v", err)
	}
	res := answers.all()[0]
	if !res[0].Dropped || res[0].Err != nil || res[1].Dropped || res[1].Change != AlertInserted {
		t.Errorf("results %+v", res)
	}
	if s := w.Stats(); s.Dropped != 1 || s.Rows != 1 {
		t.Errorf("stats %+v, want 1 dropped, 1 written", s)
	}
}

func TestClosingTheWriterCommitsAndAnswersQueuedAlertChanges(t *testing.T) {
	db := openTestDB(t)
	dev := seedDevices(t, db, 1)[0]
	w := NewWriter(db, WriterOptions{BatchRows: 1000, FlushInterval: time.Hour})
	w.Start()
	ctx := context.Background()
	var answers alertAnswers
	if err := w.AddAlerts(ctx, []AlertOp{detect(detection(dev, "offline", "", SeverityHigh, alertT0), alertT0)},
		answers.done); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := answers.all(); len(got) != 1 || got[0][0].Change != AlertInserted {
		t.Fatalf("answers after Close: %+v", got)
	}
	if as, err := db.UnresolvedAlerts(ctx); err != nil || len(as) != 1 || as[0].Type != "offline" {
		t.Errorf("stored %+v %v", as, err)
	}
	if err := w.AddAlerts(ctx, []AlertOp{detect(detection(dev, "x", "", SeverityHigh, alertT0), alertT0)},
		answers.done); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("AddAlerts after Close: %v, want ErrWriterClosed", err)
	}
}

func TestTheWriterRefusesInvalidAlertChanges(t *testing.T) {
	db := openTestDB(t)
	dev := seedDevices(t, db, 1)[0]
	w := NewWriter(db, WriterOptions{})
	defer w.Close()
	ctx := context.Background()
	for name, op := range map[string]AlertOp{
		"no type":          detect(detection(dev, "", "", SeverityHigh, alertT0), alertT0),
		"retired severity": detect(detection(dev, "cpu_high", "", "Warning", alertT0), alertT0),
		"resolve no type":  resolveOp(AlertKey{DeviceID: dev}, alertT0),
	} {
		if err := w.AddAlerts(ctx, []AlertOp{op}, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := w.AddAlerts(ctx, []AlertOp{resolveOp(AlertKey{DeviceID: dev, Type: "cpu_high"}, alertT0)}, nil); err != nil {
		t.Errorf("a resolution without severity: %v", err)
	}
}

func TestALostBatchAnswersItsAlertChangesWithTheError(t *testing.T) {
	db := openTestDB(t)
	dev := seedDevices(t, db, 1)[0]
	ctx := context.Background()
	if _, err := db.writer.ExecContext(ctx, `CREATE TEMP TRIGGER refuse BEFORE INSERT ON metrics
		BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(db, WriterOptions{BatchRows: 1000, FlushInterval: time.Hour, OnError: func(error) {}})
	w.Start()
	defer w.Close()
	var answers alertAnswers
	if err := w.AddMetrics(ctx, metricsFor(dev, 2)); err != nil {
		t.Fatal(err)
	}
	if err := w.AddAlerts(ctx, []AlertOp{detect(detection(dev, "cpu_high", "", SeverityHigh, alertT0), alertT0)},
		answers.done); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); !errors.Is(err, ErrWriteFailed) {
		t.Fatalf("Flush: %v, want ErrWriteFailed", err)
	}
	got := answers.all()
	if len(got) != 1 || !errors.Is(got[0][0].Err, ErrWriteFailed) || got[0][0].Alert.ID != 0 {
		t.Fatalf("answers %+v, want the write failure", got)
	}
	if as, err := db.ListAlerts(ctx, AlertFilter{}); err != nil || len(as) != 0 {
		t.Errorf("stored %+v %v, want nothing from the lost batch", as, err)
	}
	if s := w.Stats(); s.Failed != 3 {
		t.Errorf("stats %+v, want 3 rows lost (2 metrics, 1 alert)", s)
	}
}

func TestMultiRowInsertsStoreEveryMetricOfABatch(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 3)
	ctx := context.Background()
	if _, err := db.writer.ExecContext(ctx, `DELETE FROM devices WHERE id = ?`, ids[2]); err != nil {
		t.Fatal(err)
	}
	// 137 rows in one batch: chunks of 32, 32, 32, 32, 8 and 1, one of them
	// naming a deleted device.
	w := NewWriter(db, WriterOptions{BatchRows: 1000, FlushInterval: time.Hour})
	w.Start()
	var want float64
	for i := range 137 {
		dev := ids[i%2]
		if i == 70 {
			dev = ids[2]
		} else {
			want += float64(i)
		}
		if err := w.AddMetrics(ctx, []Metric{{DeviceID: dev, Type: "cpu_pct", Instance: "x", Value: float64(i),
			At: time.UnixMilli(int64(1e12 + i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var n int
	var sum float64
	if err := db.reader.QueryRow(`SELECT count(*), sum(value) FROM metrics WHERE instance = 'x'`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 136 || sum != want {
		t.Errorf("%d rows summing %v, want 136 summing %v", n, sum, want)
	}
	if s := w.Stats(); s.Rows != 136 || s.Dropped != 1 || s.Batches != 1 {
		t.Errorf("stats %+v", s)
	}
}
