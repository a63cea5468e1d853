package filter

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// benchFleet is n rows with apps applications each, drawn from a pool of
// 2,000 names in one to six versions each, a fifth of them named with a
// build number (as SDK parts, runtimes and drivers are: a name per host,
// hundreds of thousands in all), plus 250 services and a dozen hotfixes,
// all interned in one catalog.
func benchFleet(n, apps int) []Row {
	r := rand.New(rand.NewPCG(1, 2))
	cat := NewCatalog()
	names := make([]string, 2000)
	for i := range names {
		names[i] = fmt.Sprintf("Vendor %d Application %d (x64)", i%97, i)
	}
	names[7] = "Zoom (64-bit)"
	names[8] = "Zoom Workplace (64-bit)"
	versions := func(i int) string { return fmt.Sprintf("%d.%d.%d", 1+i%20, r.IntN(1+i%6), 100+i) }
	rows := make([]Row, n)
	for h := range rows {
		doc := FactsDoc{SoftwareAt: time.Unix(1, 0)}
		for a := range apps {
			i := r.IntN(len(names))
			if a == 0 && r.IntN(3) == 0 {
				i = 7 + r.IntN(2)
			}
			v := versions(i)
			name := names[i]
			switch {
			case i == 7 || i == 8:
				v = []string{"5.13.11", "5.16.10", "5.17.5", "6.2.11"}[r.IntN(4)]
			case a%5 == 4:
				// Installers that put a build in the name (SDK parts, .NET
				// runtimes, drivers): a name per host.
				v = fmt.Sprintf("10.1.%d.%d", 19041+r.IntN(8)*1000, r.IntN(500000))
				name = "Windows SDK AddOn " + v
			}
			doc.Apps = append(doc.Apps, [2]string{name, v})
		}
		for s := range 250 {
			st := "Running"
			if r.IntN(20) == 0 {
				st = "Stopped"
			}
			doc.Services = append(doc.Services, [2]string{fmt.Sprintf("Svc%03d", s), st})
		}
		for k := range 12 {
			doc.Hotfixes = append(doc.Hotfixes, fmt.Sprintf("KB50%05d", r.IntN(400)+k))
		}
		rows[h] = Row{Hostname: fmt.Sprintf("WS-%05d", h), Status: "Online", Facts: cat.Build(doc)}
	}
	return rows
}

// BenchmarkCollectionQuery evaluates a collection's expression over
// 10,000 hosts with 200 applications each, parsing it afresh each time
// (as a keystroke in the console's filter, or a new collection, does):
// the catalog is matched once, then each host's ids are bit tests.
// ms/query is the latency; vs_target is it over the 100 ms target.
func BenchmarkCollectionQuery(b *testing.B) {
	rows := benchFleet(10000, 200)
	for _, expr := range []string{
		`software:"Zoom" software.version<5.17`,
		`service:Svc042=stopped missing:KB5000001`,
		`!software:zoom status:online`,
	} {
		b.Run(expr, func(b *testing.B) {
			matched := 0
			for b.Loop() {
				f := MustParse(expr)
				matched = 0
				for i := range rows {
					if f.Match(&rows[i]) {
						matched++
					}
				}
			}
			per := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / 1e6
			b.ReportMetric(per, "ms/query")
			b.ReportMetric(per/100, "vs_target")
			b.ReportMetric(float64(matched), "matches")
		})
	}
}

// TestTheIndexOfTenThousandHostsFitsInMemory builds the benchmark fleet
// (10,000 hosts x 200 applications, a fifth of the names per host, 250
// services) and reports the heap its catalog and facts hold; it fails only
// past 300 MB, a bound far above what it measures, to catch a leak of a
// copy per host.
func TestTheIndexOfTenThousandHostsFitsInMemory(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("builds 10,000 hosts' facts (not with -short or -race)")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rows := benchFleet(10000, 200)
	runtime.GC()
	runtime.ReadMemStats(&after)
	mb := float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
	cat := rows[0].Facts.cat
	t.Logf("10,000 hosts x 200 applications: %d catalog entries, %.0f MB of heap", cat.Len(), mb)
	if mb > 300 {
		t.Errorf("the index holds %.0f MB", mb)
	}
	runtime.KeepAlive(rows)
}
