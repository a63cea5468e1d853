package cmd

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
	"github.com/rmmhq/rmm/ui"
)

// BenchmarkStartToFirstFrame measures what a user waits for when the
// console opens on a database of N devices: open the store, build the
// engine (which loads every device), start the console in a real Bubble
// Tea program and wait until the first device is on screen. The store is filled once, outside
// the timer.
func BenchmarkStartToFirstFrame(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			ctx := context.Background()
			path := filepath.Join(b.TempDir(), "rmm.db")
			db, err := store.Open(ctx, path)
			if err != nil {
				b.Fatal(err)
			}
			in := make([]store.DeviceInput, n)
			for i := range in {
				in[i] = store.DeviceInput{Hostname: fmt.Sprintf("WS-%05d", i), IP: "127.0.0.1", Port: 5985, Transport: "http",
					Site: []string{"hq", "branch-east", "lab"}[i%3], Tags: []string{"prod"}}
			}
			if _, err := db.UpsertDevices(ctx, in); err != nil {
				b.Fatal(err)
			}
			db.Close()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				db, err := store.Open(ctx, path)
				if err != nil {
					b.Fatal(err)
				}
				eng, err := engine.New(ctx, db, engine.Options{})
				if err != nil {
					b.Fatal(err)
				}
				m := ui.New(eng, ui.Options{})
				tm := teatest.NewTestModel(b, m, teatest.WithInitialTermSize(120, 40))
				teatest.WaitFor(b, tm.Output(), func(out []byte) bool { return bytes.Contains(out, []byte("WS-00000")) },
					teatest.WithCheckInterval(time.Millisecond), teatest.WithDuration(30*time.Second))
				b.StopTimer()
				_ = tm.Quit()
				tm.WaitFinished(b)
				m.Close()
				eng.Close()
				db.Close()
				b.StartTimer()
			}
		})
	}
}
