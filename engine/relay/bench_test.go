package relay

import (
	"fmt"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// BenchmarkCentralIngest measures how fast central applies polls a relay
// had buffered (a site coming back after an outage): b.N polls of 20
// devices are put in the relay's outbox while the link is cut, then the
// link is restored and central's catch-up is timed. It reports polls per
// second at the relay's outbox and at central, and how many devices one
// relayed site could have at a 60 s poll interval before central falls
// behind (ingest rate x 60).
//
//	go test -run '^$' -bench CentralIngest -benchtime 20000x ./engine/relay/
func BenchmarkCentralIngest(b *testing.B) {
	siteOf := make([]string, 20)
	for i := range siteOf {
		siteOf[i] = "s1"
	}
	w := newWorld(b, siteOf, "s1")
	c := w.creds("s1")
	cab := newCable(b, w.hubAddr)
	r, _, _ := startRelay(b, c, "nats-leaf://"+cab.addr(), b.TempDir())
	eventually(b, "device list", func() bool { return len(r.Engine().Devices()) == 20 })
	// The sweep a new device list starts: ingested before the cut.
	eventually(b, "the first sweep at central", func() bool { return r.Stats().Published == 20 && r.Stats().Outbox == 0 })
	eventually(b, "the first sweep applied", func() bool { return w.hub.Sites()[0].Ingested == 20 })
	baseRows := count(b, w.dbPath, siteMetrics, "s1")
	cab.setCut(true)
	eventually(b, "cut", func() bool { return !r.Connected() })
	hosts := w.sites["s1"]
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		at := base.Add(time.Duration(i) * time.Millisecond)
		r.publish(engine.PollRecord{Hostname: hosts[i%len(hosts)], Site: "s1", Status: engine.StatusOnline, At: at,
			HasMetrics: true, CPUPct: 10, MemPct: 20, DiskFreePct: 30, Metrics: []store.Metric{
				{Type: "cpu_pct", Value: 10, At: at}, {Type: "mem_pct", Value: 20, At: at},
				{Type: "disk_free_pct", Instance: "C:", Value: 30, At: at}, {Type: "disk_free_gb", Instance: "C:", Value: 40, At: at}}})
	}
	buffered := time.Since(start)
	if st := r.Stats(); st.Outbox != uint64(b.N) {
		b.Fatalf("outbox holds %d, want %d", st.Outbox, b.N)
	}
	restored := time.Now()
	cab.setCut(false)
	eventually(b, "catch-up", func() bool { return w.hub.Sites()[0].Ingested >= int64(b.N)+20 })
	took := time.Since(restored)
	b.StopTimer()
	if n := count(b, w.dbPath, duplicates); n != 0 {
		b.Fatalf("%d duplicated rows", n)
	}
	if got := count(b, w.dbPath, siteMetrics, "s1") - baseRows; got != 4*b.N {
		b.Fatalf("central got %d rows, want %d", got, 4*b.N)
	}
	outRate := float64(b.N) / buffered.Seconds()
	inRate := float64(b.N) / took.Seconds()
	b.ReportMetric(outRate, "outbox-polls/s")
	b.ReportMetric(inRate, "ingest-polls/s")
	b.ReportMetric(inRate*60, "devices@60s")
	fmt.Printf("relay outbox %.0f polls/s; central caught up %d polls in %s (%.0f polls/s, link reconnect included) = %.0f devices at a 60 s interval\n",
		outRate, b.N, took.Round(time.Millisecond), inRate, inRate*60)
}
