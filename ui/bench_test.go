package ui

import (
	"slices"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
)

// The console's benchmarks compare a small and a large fleet (or alert
// list) in one run: every iteration does the small case, then the large
// one, each timed, so both see the same machine and load. They report
// the time of each (small_us, large_us, per operation) and large/small,
// the ratio the README quotes; ns/op is the pair's and says little.
// Run them long enough to be stable:
//
//	go test -run XXX -bench . -benchtime 1s -count 6 ./ui/ | benchstat -
//
// (benchstat: go install golang.org/x/perf/cmd/benchstat@latest). A few
// iterations (-benchtime 20x) measure mostly cold caches and the first
// frames' allocations, not the steady state.

// pair times small and large alternately and reports both and their
// ratio. Each call does one operation of its case.
func pair(b *testing.B, small, large func()) {
	b.Helper()
	b.ReportAllocs()
	var ts, tl time.Duration
	for b.Loop() {
		t0 := time.Now()
		small()
		t1 := time.Now()
		large()
		tl += time.Since(t1)
		ts += t1.Sub(t0)
	}
	n := float64(b.N)
	b.ReportMetric(float64(ts.Microseconds())/n, "small_us")
	b.ReportMetric(float64(tl.Microseconds())/n, "large_us")
	if ts > 0 {
		b.ReportMetric(float64(tl)/float64(ts), "large/small")
	}
}

// BenchmarkView renders one frame of a 120x40 console, 100 devices
// (small) against 10,000 (large). Only the rows on screen are formatted,
// so large/small should stay near 1 (target: within 1.5).
func BenchmarkView(b *testing.B) {
	small := update(loaded(b, fleet(100), Options{}, 120, 40), keyPress("pgdown"))
	large := update(loaded(b, fleet(10_000), Options{}, 120, 40), keyPress("pgdown"))
	pair(b, func() { _ = small.View() }, func() { _ = large.View() })
}

// BenchmarkViewGrouped renders one frame of the grid grouped by site,
// 100 devices against 10,000.
func BenchmarkViewGrouped(b *testing.B) {
	small := update(loaded(b, fleet(100), Options{}, 120, 40), keyPress("b"), keyPress("pgdown"))
	large := update(loaded(b, fleet(10_000), Options{}, 120, 40), keyPress("b"), keyPress("pgdown"))
	pair(b, func() { _ = small.View() }, func() { _ = large.View() })
}

// BenchmarkUpdate applies one drained engine batch (50 devices with new
// metrics), 100 devices against 10,000: the work behind each live
// refresh. Sorted by hostname the rows keep their places; sorted by CPU
// every batch re-sorts the fleet, so that one grows with the fleet.
func BenchmarkUpdate(b *testing.B) {
	for _, sortKeys := range [][]string{nil, {"s", "s", "s"}} {
		name := "sort=hostname"
		if sortKeys != nil {
			name = "sort=cpu"
		}
		b.Run(name, func(b *testing.B) {
			step := func(n int) func() {
				ds := fleet(n)
				m := update(loaded(b, ds, Options{}, 120, 40), keys(sortKeys...)...)
				batch := slices.Clone(ds[:min(50, n)])
				sum := summarize(ds)
				i := 0
				return func() {
					for j := range batch {
						batch[j].CPUPct = float64((i + j) % 100)
					}
					i++
					m = update(m, updateMsg{update: engine.Update{Devices: batch, Summary: sum}})
				}
			}
			pair(b, step(100), step(10_000))
		})
	}
}

// BenchmarkFilterKeystroke is one keystroke in the filter box, 100
// devices against 10,000: every device is matched again and the matches
// re-sorted, so it grows with the fleet. Each operation is two keystrokes
// (a character and backspace), so one keystroke costs half. "text" is a
// plain substring; "expr" is a field expression, typing the last
// character of "site:london cpu>50".
func BenchmarkFilterKeystroke(b *testing.B) {
	for _, tc := range []struct{ name, typed, last string }{
		{"text", "ws", "-"},
		{"expr", "site:london cpu>5", "0"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			step := func(n int) func() {
				m := update(loaded(b, fleet(n), Options{}, 120, 40), keyPress("/"))
				m = update(m, typeText(tc.typed)...)
				return func() { m = update(m, keyPress(tc.last), keyPress("backspace")) }
			}
			pair(b, step(100), step(10_000))
		})
	}
}

// BenchmarkViewDetail renders one frame of the detail view.
func BenchmarkViewDetail(b *testing.B) {
	m := loaded(b, detailFleet(), Options{}, 120, 40)
	m = update(m, keyPress("enter"))
	m = update(m, m.loadDetail()())
	b.ReportAllocs()
	for b.Loop() {
		_ = m.View()
	}
}

// BenchmarkViewAlerts renders one frame of the alerts view, 100 alerts
// (small: already more than a screen) against 10,000 (large). Only the
// rows on screen are drawn, so large/small should stay near 1. (A
// 10-alert case, which the README once quoted, fills a third of the
// screen and so costs about half: that ratio of about 2 measured the
// rows drawn, not the alerts held.)
func BenchmarkViewAlerts(b *testing.B) {
	model := func(n int) Model {
		c := newFullClient(fleet(200), 0)
		c.alerts = nil
		for i := range n {
			a := testAlerts()[i%6]
			a.ID = int64(i + 1)
			a.FirstSeen = t0.Add(-time.Duration(i) * time.Minute)
			c.alerts = append(c.alerts, a)
		}
		return update(loadedWith(b, c, Options{}, 120, 40), keyPress("2"), keyPress("pgdown"))
	}
	small, large := model(100), model(10_000)
	pair(b, func() { _ = small.View() }, func() { _ = large.View() })
}
