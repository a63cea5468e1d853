package ui

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
)

// BenchmarkView renders one frame of a 120x40 console. The cost should not
// depend on the fleet size: only the rows on screen are formatted.
func BenchmarkView(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			m := loaded(b, fleet(n), Options{}, 120, 40)
			m = update(m, keyPress("pgdown"))
			b.ReportAllocs()
			for b.Loop() {
				_ = m.View()
			}
		})
	}
}

// BenchmarkUpdate applies one drained engine batch (50 devices with new
// metrics): the work behind each live refresh. Sorted by hostname the rows
// keep their places; sorted by CPU every batch re-sorts the fleet.
func BenchmarkUpdate(b *testing.B) {
	for _, sortKeys := range [][]string{nil, {"s", "s", "s"}} {
		for _, n := range []int{100, 10_000} {
			name := fmt.Sprintf("sort=hostname/devices=%d", n)
			if sortKeys != nil {
				name = fmt.Sprintf("sort=cpu/devices=%d", n)
			}
			b.Run(name, func(b *testing.B) {
				ds := fleet(n)
				m := loaded(b, ds, Options{}, 120, 40)
				m = update(m, keys(sortKeys...)...)
				batch := slices.Clone(ds[:min(50, n)])
				sum := summarize(ds)
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					for j := range batch {
						batch[j].CPUPct = float64((i + j) % 100)
					}
					m = update(m, updateMsg{update: engine.Update{Devices: batch, Summary: sum}})
				}
			})
		}
	}
}

// BenchmarkFilterKeystroke is one keystroke in the filter box: every
// device is matched again and the matches re-sorted. Each iteration is
// two keystrokes (a character and backspace), so one keystroke costs half
// of ns/op. "text" is a plain substring; "expr" is a field expression,
// typing the last character of "site:london cpu>50".
func BenchmarkFilterKeystroke(b *testing.B) {
	for _, tc := range []struct{ name, typed, last string }{
		{"text", "ws", "-"},
		{"expr", "site:london cpu>5", "0"},
	} {
		for _, n := range []int{100, 10_000} {
			b.Run(fmt.Sprintf("%s/devices=%d", tc.name, n), func(b *testing.B) {
				m := loaded(b, fleet(n), Options{}, 120, 40)
				m = update(m, keyPress("/"))
				m = update(m, typeText(tc.typed)...)
				b.ReportAllocs()
				for b.Loop() {
					m = update(m, keyPress(tc.last), keyPress("backspace"))
				}
			})
		}
	}
}

// BenchmarkViewGrouped renders one frame of the grid grouped by site.
func BenchmarkViewGrouped(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			m := loaded(b, fleet(n), Options{}, 120, 40)
			m = update(m, keyPress("b"), keyPress("pgdown"))
			b.ReportAllocs()
			for b.Loop() {
				_ = m.View()
			}
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

// BenchmarkViewAlerts renders one frame of the alerts view: like the
// grid, its cost should not grow with the number of alerts.
func BenchmarkViewAlerts(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("alerts=%d", n), func(b *testing.B) {
			c := newFullClient(fleet(200), 0)
			c.alerts = nil
			for i := range n {
				a := testAlerts()[i%6]
				a.ID = int64(i + 1)
				a.FirstSeen = t0.Add(-time.Duration(i) * time.Minute)
				c.alerts = append(c.alerts, a)
			}
			m := loadedWith(b, c, Options{}, 120, 40)
			m = update(m, keyPress("2"), keyPress("pgdown"))
			b.ReportAllocs()
			for b.Loop() {
				_ = m.View()
			}
		})
	}
}
