package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// statusOf is the status part of a stored device, for comparing.
type statusOf struct {
	Status, LastError       string
	LastSeen, MetricsAt     int64 // unix ms, 0 when NULL
	HasMetrics              bool
	CPUPct, MemPct, DiskPct float64
}

func (s statusOf) String() string {
	return fmt.Sprintf("%s err=%q seen=%d metrics=%v(%g,%g,%g at %d)", s.Status, s.LastError, s.LastSeen,
		s.HasMetrics, s.CPUPct, s.MemPct, s.DiskPct, s.MetricsAt)
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return toMS(t)
}

// storedStatuses reads every device's status columns, by id.
func storedStatuses(t *testing.T, db *DB) map[int64]statusOf {
	t.Helper()
	ds, err := db.ListDevices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[int64]statusOf, len(ds))
	for _, d := range ds {
		out[d.ID] = statusOf{Status: d.Status, LastError: d.LastError, LastSeen: msOrZero(d.LastSeen),
			MetricsAt: msOrZero(d.MetricsAt), HasMetrics: d.HasMetrics, CPUPct: d.CPUPct, MemPct: d.MemPct,
			DiskPct: d.DiskFreePct}
	}
	return out
}

// applyStatus is what one StatusUpdate does to a device's status columns
// (the rules of the writer's status UPDATE), for building expectations.
func applyStatus(s statusOf, u StatusUpdate) statusOf {
	s.Status, s.LastError = u.Status, u.LastError
	if u.Status == StatusOnline {
		s.LastSeen = toMS(u.At)
	}
	if u.HasMetrics {
		s.HasMetrics = true
		s.CPUPct, s.MemPct, s.DiskPct, s.MetricsAt = u.CPUPct, u.MemPct, u.DiskFreePct, toMS(u.At)
	}
	return s
}

// oneBatch queues updates into a writer that commits only on Flush, so
// all of them go into one transaction, and returns the writer's stats.
func oneBatch(t *testing.T, db *DB, updates []StatusUpdate) WriterStats {
	t.Helper()
	w := NewWriter(db, WriterOptions{BatchRows: 100000, FlushInterval: time.Hour})
	w.Start()
	ctx := context.Background()
	for _, u := range updates {
		if err := w.AddStatus(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s := w.Stats()
	if s.Batches != 1 {
		t.Fatalf("stats %+v, want the updates in one batch", s)
	}
	return s
}

func TestWriterStatusesOfManyDevicesInOneBatch(t *testing.T) {
	// 63 updates take statements of 32, 16, 8, 4, 2 and 1 rows, 75 of
	// 32, 32, 8, 2 and 1.
	for _, n := range []int{1, 3, 63, 75} {
		t.Run(fmt.Sprintf("%d devices", n), func(t *testing.T) {
			db := openTestDB(t)
			ids := seedDevices(t, db, n+2) // two devices get no update
			want := storedStatuses(t, db)
			t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
			var updates []StatusUpdate
			for i, id := range ids[:n] {
				u := StatusUpdate{DeviceID: id, Status: StatusOnline, At: t0.Add(time.Duration(i) * time.Second),
					HasMetrics: i%3 != 0, CPUPct: float64(i), MemPct: float64(100 - i), DiskFreePct: float64(i) / 2}
				if i%4 == 1 {
					u.Status, u.LastError = StatusOffline, fmt.Sprintf("timeout %d", i)
				}
				updates = append(updates, u)
				want[id] = applyStatus(want[id], u)
			}
			if s := oneBatch(t, db, updates); s.Rows != int64(n) || s.Dropped != 0 || s.Failed != 0 {
				t.Errorf("stats %+v, want %d rows written", s, n)
			}
			got := storedStatuses(t, db)
			for _, id := range ids {
				if got[id] != want[id] {
					t.Errorf("device %d\n got %v\nwant %v", id, got[id], want[id])
				}
			}
		})
	}
}

func TestWriterAppliesRepeatedUpdatesOfADeviceInQueueOrder(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 40)
	want := storedStatuses(t, db)
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	online := func(id int64, m int, cpu float64) StatusUpdate {
		return StatusUpdate{DeviceID: id, Status: StatusOnline, At: t0.Add(time.Duration(m) * time.Minute),
			HasMetrics: true, CPUPct: cpu, MemPct: cpu + 1, DiskFreePct: cpu + 2}
	}
	offline := func(id int64, m int) StatusUpdate {
		return StatusUpdate{DeviceID: id, Status: StatusOffline, At: t0.Add(time.Duration(m) * time.Minute),
			LastError: fmt.Sprintf("refused at %d", m)}
	}
	var updates []StatusUpdate
	add := func(u StatusUpdate) {
		updates = append(updates, u)
		want[u.DeviceID] = applyStatus(want[u.DeviceID], u)
	}
	a, b := ids[0], ids[5]
	add(online(a, 1, 10)) // a: Online then Offline next to each other
	add(offline(a, 2))
	for _, id := range ids[1:30] {
		add(online(id, 1, 20))
	}
	add(online(b, 3, 30)) // b: Online twice, then Offline, spread over statements
	for _, id := range ids[30:] {
		add(online(id, 1, 40))
	}
	add(online(b, 4, 31))
	add(offline(b, 5))
	add(offline(a, 6)) // a: a third update, Offline again
	for i := range 3 { // c: the same device many times in a row
		add(online(ids[39], 7+i, float64(50+i)))
	}

	if s := oneBatch(t, db, updates); s.Rows != int64(len(updates)) || s.Dropped != 0 {
		t.Errorf("stats %+v, want %d rows written", s, len(updates))
	}
	got := storedStatuses(t, db)
	for _, id := range ids {
		if got[id] != want[id] {
			t.Errorf("device %d\n got %v\nwant %v", id, got[id], want[id])
		}
	}
	// The rules spelled out for a: last_seen and metrics of its Online
	// poll, status and error of its last.
	if g := got[a]; g.Status != StatusOffline || g.LastSeen != toMS(t0.Add(time.Minute)) || g.CPUPct != 10 ||
		g.LastError != "refused at 6" {
		t.Errorf("device a: %v", g)
	}
	if g := got[b]; g.Status != StatusOffline || g.LastSeen != toMS(t0.Add(4*time.Minute)) || g.CPUPct != 31 {
		t.Errorf("device b: %v", g)
	}
}

func TestWriterCountsStatusesOfDeletedDevicesAsDropped(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 45)
	ctx := context.Background()
	gone := map[int64]bool{ids[0]: true, ids[17]: true, ids[33]: true, ids[44]: true}
	for id := range gone {
		if _, err := db.writer.ExecContext(ctx, `DELETE FROM devices WHERE id = ?`, id); err != nil {
			t.Fatal(err)
		}
	}
	want := storedStatuses(t, db)
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	var updates []StatusUpdate
	var written, dropped int64
	add := func(id int64, m int) {
		u := StatusUpdate{DeviceID: id, Status: StatusOnline, At: t0.Add(time.Duration(m) * time.Minute),
			HasMetrics: true, CPUPct: float64(m)}
		updates = append(updates, u)
		if gone[id] {
			dropped++
			return
		}
		written++
		want[id] = applyStatus(want[id], u)
	}
	for _, id := range ids {
		add(id, 1)
	}
	add(ids[17], 2) // a deleted device twice
	add(ids[3], 2)  // and a live one twice

	if s := oneBatch(t, db, updates); s.Rows != written || s.Dropped != dropped || s.Failed != 0 {
		t.Errorf("stats %+v, want %d rows written, %d dropped", s, written, dropped)
	}
	got := storedStatuses(t, db)
	if len(got) != len(ids)-len(gone) {
		t.Errorf("%d devices, want %d: an update brought a deleted device back", len(got), len(ids)-len(gone))
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("device %d\n got %v\nwant %v", id, got[id], w)
		}
	}
}

func TestWriterStatusWithoutMetricsKeepsTheLastMetrics(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 3)
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	with := func(id int64, m int, cpu float64) StatusUpdate {
		return StatusUpdate{DeviceID: id, Status: StatusOnline, At: t0.Add(time.Duration(m) * time.Minute),
			HasMetrics: true, CPUPct: cpu, MemPct: cpu * 2, DiskFreePct: cpu / 2}
	}
	without := func(id int64, m int, status string) StatusUpdate {
		return StatusUpdate{DeviceID: id, Status: status, At: t0.Add(time.Duration(m) * time.Minute)}
	}
	// First batch: every device gets metrics.
	oneBatch(t, db, []StatusUpdate{with(ids[0], 1, 10), with(ids[1], 1, 20), with(ids[2], 1, 30)})
	// Second batch: polls without metrics, one of them in the same batch
	// right after a poll with metrics.
	oneBatch(t, db, []StatusUpdate{without(ids[0], 2, StatusOnline), without(ids[1], 2, StatusUnknown),
		with(ids[2], 2, 35), without(ids[2], 3, StatusOnline)})

	got := storedStatuses(t, db)
	m := func(i int) int64 { return toMS(t0.Add(time.Duration(i) * time.Minute)) }
	want := map[int64]statusOf{
		ids[0]: {Status: StatusOnline, LastSeen: m(2), HasMetrics: true, CPUPct: 10, MemPct: 20, DiskPct: 5, MetricsAt: m(1)},
		ids[1]: {Status: StatusUnknown, LastSeen: m(1), HasMetrics: true, CPUPct: 20, MemPct: 40, DiskPct: 10, MetricsAt: m(1)},
		ids[2]: {Status: StatusOnline, LastSeen: m(3), HasMetrics: true, CPUPct: 35, MemPct: 70, DiskPct: 17.5, MetricsAt: m(2)},
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("device %d\n got %v\nwant %v", id, got[id], w)
		}
	}
}

func TestWriterWritesStatusesAndAlertChangesOfOneBatch(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 2)
	ctx := context.Background()
	if _, err := db.writer.ExecContext(ctx, `DELETE FROM devices WHERE id = ?`, ids[1]); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(db, WriterOptions{BatchRows: 1000, FlushInterval: time.Hour})
	w.Start()
	defer w.Close()
	var answers alertAnswers
	t0 := alertT0
	// Statuses and alert changes interleaved in queue order, one batch.
	if err := w.AddStatus(ctx, StatusUpdate{DeviceID: ids[0], Status: StatusOffline, At: t0, LastError: "x"}); err != nil {
		t.Fatal(err)
	}
	ops := []AlertOp{
		detect(detection(ids[0], "offline", "", SeverityHigh, t0), t0),
		detect(detection(ids[1], "offline", "", SeverityHigh, t0), t0),
	}
	if err := w.AddAlerts(ctx, ops, answers.done); err != nil {
		t.Fatal(err)
	}
	if err := w.AddStatus(ctx, StatusUpdate{DeviceID: ids[0], Status: StatusOnline, At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := w.AddStatus(ctx, StatusUpdate{DeviceID: ids[1], Status: StatusOnline, At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Batches != 1 || s.Rows != 3 || s.Dropped != 2 || s.Failed != 0 {
		t.Errorf("stats %+v, want 1 batch: 3 rows written (2 statuses, 1 alert), 2 dropped", s)
	}
	got := answers.all()
	if len(got) != 1 || len(got[0]) != 2 {
		t.Fatalf("answers %+v", got)
	}
	if r := got[0][0]; r.Err != nil || r.Change != AlertInserted || r.Alert.Hostname != "dev-000" {
		t.Errorf("alert of the live device: %+v", r)
	}
	if r := got[0][1]; !r.Dropped || r.Err != nil {
		t.Errorf("alert of the deleted device: %+v", r)
	}
	if g := storedStatuses(t, db)[ids[0]]; g.Status != StatusOnline || g.LastSeen != toMS(t0.Add(time.Minute)) ||
		g.LastError != "" {
		t.Errorf("device status %v, want the later Online update", g)
	}
}

func TestDistinctDevicesEndsBeforeTheFirstRepeat(t *testing.T) {
	us := func(ids ...int64) []*StatusUpdate {
		out := make([]*StatusUpdate, len(ids))
		for i, id := range ids {
			out[i] = &StatusUpdate{DeviceID: id}
		}
		return out
	}
	tests := []struct {
		ss    []*StatusUpdate
		limit int
		want  int
	}{
		{us(1), 32, 1},
		{us(1, 2, 3), 32, 3},
		{us(1, 2, 3), 2, 2},
		{us(1, 1), 32, 1},
		{us(1, 2, 3, 2, 4), 32, 3},
		{us(1, 2, 3, 4, 1), 4, 4},
		{us(1, 2, 3, 4, 1), 5, 4},
	}
	for _, tt := range tests {
		if got := distinctDevices(tt.ss, tt.limit); got != tt.want {
			ids := make([]int64, len(tt.ss))
			for i, s := range tt.ss {
				ids[i] = s.DeviceID
			}
			t.Errorf("distinctDevices(%v, %d) = %d, want %d", ids, tt.limit, got, tt.want)
		}
	}
}
