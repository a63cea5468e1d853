package winrmsim

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/masterzen/winrm"
)

// BenchmarkCommandRoundTrip is one warm command on a host: Command,
// Receive, Signal over a kept-alive connection and an open shell.
func BenchmarkCommandRoundTrip(b *testing.B) {
	f, err := New(Config{Devices: 1, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	c := newRawClient(b, f.Hosts()[0])
	shell := c.createShell(b)
	line := winrm.Powershell("# rmm:script=metrics v1\n")
	b.ReportAllocs()
	for b.Loop() {
		status, body, err := c.tryPost(winrm.NewExecuteCommandRequest(c.url, shell, line, nil, c.params).String(), nil)
		if err != nil || status != 200 {
			b.Fatalf("Command: %d %v", status, err)
		}
		cmd, _ := winrm.ParseExecuteCommandResponse(body)
		if status, _, err := c.tryPost(receiveRequest(c, shell, cmd, "PT5S"), nil); err != nil || status != 200 {
			b.Fatalf("Receive: %d %v", status, err)
		}
		if status, _, err := c.tryPost(winrm.NewSignalRequest(c.url, shell, cmd, c.params).String(), nil); err != nil || status != 200 {
			b.Fatalf("Signal: %d %v", status, err)
		}
	}
}

// BenchmarkSweep10000Hosts starts 10,000 hosts and runs the metrics script
// once on each, 50 at a time (the engine's default throttle), through the
// real client. It reports start cost and heap per host, and poll cost per
// host.
func BenchmarkSweep10000Hosts(b *testing.B) {
	const n = 10000
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	f, err := New(Config{Devices: n, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := f.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	startCost := time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	hosts := f.Hosts()
	script := winrm.Powershell("# rmm:script=metrics v1\n")
	for b.Loop() {
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					if err := pollOnce(hosts[i], script); err != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			b.Fatalf("%d of %d hosts failed", failed.Load(), n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/n, "us-poll/host")
	b.ReportMetric(float64(startCost.Microseconds())/n, "us-start/host")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/host")
}

// pollOnce runs a script with a fresh client and closes the connections it
// dialled: masterzen/winrm gives every client its own pool, which would
// otherwise keep 10,000 idle sockets open.
func pollOnce(h HostInfo, script string) error {
	var mu sync.Mutex
	var conns []net.Conn
	params := *winrm.DefaultParameters
	params.Dial = func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return c, err
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	ep := winrm.NewEndpoint(h.IP, h.Port, false, false, nil, nil, nil, 30*time.Second)
	c, err := winrm.NewClientWithParameters(ep, DefaultUser, DefaultPassword, &params)
	if err != nil {
		return err
	}
	_, _, code, err := c.RunCmdWithContext(context.Background(), script)
	if err == nil && code != 0 {
		err = fmt.Errorf("exit code %d", code)
	}
	return err
}
