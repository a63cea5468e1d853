package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/csvimport"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// BenchmarkWarmSweep runs the sweep benchmark on a small fleet; run it
// with -cpuprofile to see where a poll's CPU goes.
func BenchmarkWarmSweep(b *testing.B) {
	for b.Loop() {
		res, err := Sweep(context.Background(), SweepConfig{
			Devices: 2000, Throttle: 200, RTT: 5 * time.Millisecond,
			PSStart: 400 * time.Millisecond, ScriptTime: 250 * time.Millisecond, Sweeps: 4, Seed: 1,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.Ratio, "ratio")
		b.ReportMetric(res.CPUMSPerPoll, "cpu-ms/poll")
		b.ReportMetric(res.RequestsPerPoll, "req/poll")
		b.ReportMetric(res.PooledVsUnpooled, "pooled/unpooled")
	}
}

func TestASmallSweepBenchmarkReportsEveryField(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a fleet")
	}
	res, err := Sweep(context.Background(), SweepConfig{
		Devices: 20, Throttle: 10, RTT: time.Millisecond, PSStart: 20 * time.Millisecond,
		ScriptTime: 10 * time.Millisecond, Sweeps: 2, Seed: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Devices != 20 || res.Throttle != 10 || res.FloorMS != 2*(10+2*1) {
		t.Errorf("result %+v: wrong inputs or floor", res)
	}
	if res.ColdWallMS <= 0 || res.WarmWallMS <= 0 || res.UnpooledWarmWallMS <= 0 || res.Ratio <= 0 || res.PeakRSSMB <= 0 {
		t.Errorf("result %+v: a measurement is missing", res)
	}
	if res.RequestsPerPoll != 2 {
		t.Errorf("requests per warm poll = %v, want 2 (Send and Receive)", res.RequestsPerPoll)
	}
	if res.ShellsOpenAfter != 0 {
		t.Errorf("%d shells open after the engine closed, want 0", res.ShellsOpenAfter)
	}
}

// TestProfileWarmSweeps writes a CPU profile of warm pooled sweeps only,
// when RMM_BENCH_PROFILE names the file (a tool for optimising, not a
// test): RMM_BENCH_PROFILE=/tmp/warm.prof go test -run ProfileWarm ./engine/bench/
func TestProfileWarmSweeps(t *testing.T) {
	path := os.Getenv("RMM_BENCH_PROFILE")
	if path == "" {
		t.Skip("set RMM_BENCH_PROFILE to a file name")
	}
	n, _ := strconv.Atoi(os.Getenv("RMM_BENCH_DEVICES"))
	if n == 0 {
		n = 2000
	}
	th, _ := strconv.Atoi(os.Getenv("RMM_BENCH_THROTTLE"))
	if th == 0 {
		th = 200
	}
	ctx := context.Background()
	fleet, db := benchFleet(t, n)
	eng, err := engine.New(ctx, db, engine.Options{
		Throttle: th, Credential: engine.Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if _, err := eng.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	writeHeap := func(name string) {
		if name == "" {
			return
		}
		runtime.GC()
		hf, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(hf); err != nil {
			t.Fatal(err)
		}
		hf.Close()
	}
	if hp := os.Getenv("RMM_BENCH_HEAP"); hp != "" {
		writeHeap(hp + ".base")
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	cpu0, req0 := CPUTime(), fleet.Stats().Requests
	const sweeps = 3
	start := time.Now()
	for range sweeps {
		if _, err := eng.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	pprof.StopCPUProfile()
	if hp := os.Getenv("RMM_BENCH_HEAP"); hp != "" {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		t.Logf("heap in use %.0f MB, stacks %.0f MB, sys %.0f MB, goroutines %d",
			float64(ms.HeapInuse)/(1<<20), float64(ms.StackInuse)/(1<<20), float64(ms.Sys)/(1<<20), runtime.NumGoroutine())
		writeHeap(hp)
	}
	polls := float64(sweeps * n)
	t.Logf("%d warm polls: %.3f ms CPU/poll, %.2f requests/poll, %.0f ms/sweep, peak RSS %.0f MB",
		sweeps*n, ms(CPUTime()-cpu0)/polls, float64(fleet.Stats().Requests-req0)/polls, ms(took)/sweeps, PeakRSSMB())
}

func benchFleet(t *testing.T, n int) (*winrmsim.Fleet, *store.DB) {
	t.Helper()
	ctx := context.Background()
	fleet, err := winrmsim.New(winrmsim.Config{Devices: n, Seed: 1, RTT: 5 * time.Millisecond, AllowUnencrypted: true,
		PSStart: 400 * time.Millisecond, ScriptTime: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := fleet.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() })
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var buf bytes.Buffer
	if err := fleet.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	if _, _, err := csvimport.Import(ctx, db, "fleet.csv", &buf, csvimport.Options{}); err != nil {
		t.Fatal(err)
	}
	return fleet, db
}
