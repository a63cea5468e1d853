package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// sample is one raw metric row the rollup tests write.
type sample struct {
	dev      int64
	typ      string
	instance string
	value    float64
	at       time.Time
}

func insertSamples(t *testing.T, db *DB, ss []sample) {
	t.Helper()
	ctx := context.Background()
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		for _, s := range ss {
			if _, err := tx.ExecContext(ctx, `INSERT INTO metrics (device_id, type, instance, value, ts) VALUES (?, ?, ?, ?, ?)`,
				s.dev, s.typ, s.instance, s.value, toMS(s.at)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// expectRollups aggregates samples in Go, independently of the SQL.
func expectRollups(ss []sample, period string) map[string]Rollup {
	out := map[string]Rollup{}
	for _, s := range ss {
		if !isRolled(s.typ) {
			continue
		}
		start := s.at.UTC().Truncate(time.Hour)
		if period == PeriodDay {
			start = time.Date(s.at.Year(), s.at.Month(), s.at.Day(), 0, 0, 0, 0, time.UTC)
		}
		k := fmt.Sprintf("%d/%s/%s/%d", s.dev, s.typ, s.instance, start.UnixMilli())
		r, ok := out[k]
		if !ok {
			r = Rollup{DeviceID: s.dev, Type: s.typ, Instance: s.instance, Start: start, Min: math.Inf(1), Max: math.Inf(-1)}
		}
		r.N++
		r.Sum += s.value
		r.Min = math.Min(r.Min, s.value)
		r.Max = math.Max(r.Max, s.value)
		out[k] = r
	}
	return out
}

func isRolled(typ string) bool {
	for _, t := range RolledMetrics {
		if t == typ {
			return true
		}
	}
	return false
}

func checkRollups(t *testing.T, db *DB, ss []sample) {
	t.Helper()
	for _, period := range []string{PeriodHour, PeriodDay} {
		got, err := db.Rollups(context.Background(), RollupFilter{Period: period, From: time.Unix(0, 0), To: time.Now().AddDate(10, 0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		want := expectRollups(ss, period)
		if len(got) != len(want) {
			t.Fatalf("%s: %d buckets, want %d", period, len(got), len(want))
		}
		for _, r := range got {
			k := fmt.Sprintf("%d/%s/%s/%d", r.DeviceID, r.Type, r.Instance, r.Start.UnixMilli())
			w, ok := want[k]
			if !ok || r.N != w.N || math.Abs(r.Sum-w.Sum) > 1e-9 || r.Min != w.Min || r.Max != w.Max {
				t.Fatalf("%s bucket %s: got %+v, want %+v", period, k, r, w)
			}
		}
	}
}

// randomSamples makes n samples of every rolled type (and one that is
// not rolled) for devices over the hours before end.
func randomSamples(rng *rand.Rand, devs []int64, n int, end time.Time, hours int) []sample {
	var ss []sample
	for range n {
		dev := devs[rng.IntN(len(devs))]
		at := end.Add(-time.Duration(rng.IntN(hours*3600)) * time.Second)
		switch rng.IntN(5) {
		case 0:
			ss = append(ss, sample{dev, "poll_ok", "", float64(rng.IntN(2)), at})
		case 1:
			ss = append(ss, sample{dev, "cpu_pct", "", rng.Float64() * 100, at})
		case 2:
			ss = append(ss, sample{dev, "mem_pct", "", rng.Float64() * 100, at})
		case 3:
			ss = append(ss, sample{dev, "disk_free_pct", []string{"C:", "D:"}[rng.IntN(2)], rng.Float64() * 100, at})
		default:
			ss = append(ss, sample{dev, "disk_free_gb", "C:", rng.Float64() * 500, at})
		}
	}
	return ss
}

func TestRollupsMatchTheRawSamplesAndAreComputedIncrementally(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 3)
	rng := rand.New(rand.NewPCG(1, 2))
	end := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	first := randomSamples(rng, ids, 3000, end, 72)
	insertSamples(t, db, first)
	rep, err := db.RollUp(context.Background(), 500) // small batches: many transactions
	if err != nil {
		t.Fatal(err)
	}
	rolled := int64(0)
	for _, s := range first {
		if isRolled(s.typ) {
			rolled++
		}
	}
	if rep.Samples != rolled || rep.Batches != 6 {
		t.Fatalf("first pass %+v, want %d samples in 6 batches", rep, rolled)
	}
	checkRollups(t, db, first)

	// A pass with nothing new reads nothing.
	if rep, err := db.RollUp(context.Background(), 0); err != nil || rep.Samples != 0 {
		t.Fatalf("an idle pass %+v %v", rep, err)
	}
	// New samples land in existing buckets and new ones; only they are read.
	second := randomSamples(rng, ids, 1000, end.Add(2*time.Hour), 6)
	insertSamples(t, db, second)
	rep, err = db.RollUp(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	newRolled := int64(0)
	for _, s := range second {
		if isRolled(s.typ) {
			newRolled++
		}
	}
	if rep.Samples != newRolled {
		t.Fatalf("second pass read %d samples, want only the %d new ones", rep.Samples, newRolled)
	}
	checkRollups(t, db, append(first, second...))
}

func TestRollupsSeeSamplesThatReuseTheIdsOfDeletedOnes(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 2)
	end := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	old := []sample{{ids[0], "cpu_pct", "", 10, end.Add(-48 * time.Hour)}, {ids[1], "cpu_pct", "", 20, end.Add(-47 * time.Hour)}}
	insertSamples(t, db, old)
	if _, err := db.RollUp(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	// Retention (or a removed device) deletes the newest rows: SQLite
	// hands their ids out again.
	if _, err := db.writer.Exec(`DELETE FROM metrics`); err != nil {
		t.Fatal(err)
	}
	fresh := []sample{{ids[0], "cpu_pct", "", 30, end}, {ids[1], "poll_ok", "", 1, end}}
	insertSamples(t, db, fresh)
	var maxID int64
	if err := db.reader.QueryRow(`SELECT max(id) FROM metrics`).Scan(&maxID); err != nil || maxID > 2 {
		t.Fatalf("ids were not reused (max %d, %v): the test proves nothing", maxID, err)
	}
	if rep, err := db.RollUp(context.Background(), 0); err != nil || rep.Samples != 2 {
		t.Fatalf("pass after reuse %+v %v", rep, err)
	}
	checkRollups(t, db, append(old, fresh...))
}

func TestOldRollupsArePrunedByPeriod(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 1)
	end := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	var ss []sample
	for d := range 40 {
		ss = append(ss, sample{ids[0], "poll_ok", "", 1, end.AddDate(0, 0, -d)})
	}
	insertSamples(t, db, ss)
	if _, err := db.RollUp(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	n, err := db.PruneRollups(context.Background(), end.AddDate(0, 0, -10), end.AddDate(0, 0, -30))
	if err != nil {
		t.Fatal(err)
	}
	count := func(period string) int {
		rs, err := db.Rollups(context.Background(), RollupFilter{Period: period, From: time.Unix(0, 0), To: end.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	// Hourly: the samples at or after 10 days back (11 of them, the
	// boundary one included); daily: the days that start after 30 days
	// back at noon (30: that day's own bucket started at midnight).
	if h, d := count(PeriodHour), count(PeriodDay); h != 11 || d != 30 || n != int64(40-11+40-30) {
		t.Fatalf("hourly %d daily %d pruned %d", h, d, n)
	}
}
