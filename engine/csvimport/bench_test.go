package csvimport

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rmmhq/rmm/store"
)

// peakHeap runs fn and returns the most heap in use seen while it ran
// (sampled every millisecond), above what was in use before.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > base && m.HeapInuse-base > peak {
				peak = m.HeapInuse - base
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return peak
}

// BenchmarkImportHoldsOneRowNotTheFile imports 200,000 rows into a real
// SQLite file by streaming (Import), and parses the same file whole
// (Parse, which holds every row, as the import did before); it reports
// each one's peak heap and their ratio.
func BenchmarkImportHoldsOneRowNotTheFile(b *testing.B) {
	const rows = 200000
	var file bytes.Buffer
	file.WriteString("Hostname,IPAddress,Port,Transport,Site,OSName,Tags\n")
	for i := range rows {
		fmt.Fprintf(&file, "WS-%07d,10.%d.%d.%d,5985,http,site-%d,Windows 11 Pro,\"sql,prod\"\n", i, (i>>16)&255, (i>>8)&255, i&255, i%50)
	}
	for b.Loop() {
		db, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "rmm.db"))
		if err != nil {
			b.Fatal(err)
		}
		var streamErr error
		stream := peakHeap(func() {
			_, _, streamErr = Import(context.Background(), db, "bench.csv", bytes.NewReader(file.Bytes()), Options{})
		})
		db.Close()
		if streamErr != nil {
			b.Fatal(streamErr)
		}
		var whole []Row
		held := peakHeap(func() {
			whole, _, _ = Parse("bench.csv", bytes.NewReader(file.Bytes()))
		})
		if len(whole) != rows {
			b.Fatalf("%d rows parsed", len(whole))
		}
		b.ReportMetric(float64(stream)/(1<<20), "stream-peak-MB")
		b.ReportMetric(float64(held)/(1<<20), "parse-all-peak-MB")
		b.ReportMetric(float64(stream)/float64(held), "stream/parse-all")
	}
}
