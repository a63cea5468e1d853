package sshserve

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// The idle watch runs on a fake clock: the test decides when each wait
// ends and how long the input has been quiet, so nothing depends on how
// fast this machine runs (TestIdleSessionIsClosed covers the real clock,
// end to end).
func TestTheIdleWatchEndsASessionOnlyAfterAWholeWindowWithoutInput(t *testing.T) {
	const idle = 400 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fire := make(chan time.Time)
	waits := make(chan time.Duration, 1)
	after := func(d time.Duration) <-chan time.Time { waits <- d; return fire }
	var quiet atomic.Int64
	ended := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchIdle(ctx, func(err error) { ended <- err }, func() time.Duration { return time.Duration(quiet.Load()) }, idle, after)
	}()

	if d := <-waits; d != idle {
		t.Fatalf("first wait %v, want the idle timeout %v", d, idle)
	}
	for _, q := range []time.Duration{150 * time.Millisecond, 0, 399 * time.Millisecond} {
		quiet.Store(int64(q)) // input came q ago
		fire <- time.Time{}
		if d := <-waits; d != idle-q {
			t.Fatalf("input %v ago: next wait %v, want the rest of the window %v", q, d, idle-q)
		}
		select {
		case err := <-ended:
			t.Fatalf("session ended (%v) with input %v ago", err, q)
		default:
		}
	}
	quiet.Store(int64(idle))
	fire <- time.Time{}
	if err := <-ended; !errors.Is(err, errIdle) {
		t.Fatalf("ended with %v, want the idle timeout", err)
	}
	<-done
}

func TestTheIdleWatchStopsWithItsSession(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchIdle(ctx, func(err error) { t.Errorf("ended with %v after the session was gone", err) },
			func() time.Duration { return time.Hour }, time.Minute, func(time.Duration) <-chan time.Time { return nil })
	}()
	cancel()
	<-done
}

func TestReadingInputResetsTheQuietTime(t *testing.T) {
	in := &inputReader{r: bytes.NewReader([]byte("j"))}
	in.last.Store(time.Now().Add(-time.Hour).UnixNano())
	if q := in.quiet(); q < time.Hour {
		t.Fatalf("quiet %v before any input, want an hour", q)
	}
	if n, err := in.Read(make([]byte, 8)); n != 1 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if q := in.quiet(); q >= time.Hour {
		t.Errorf("quiet %v after a keystroke, want it reset", q)
	}
	// A read with nothing in it is not input.
	in.last.Store(time.Now().Add(-time.Hour).UnixNano())
	if n, _ := in.Read(make([]byte, 8)); n != 0 {
		t.Fatalf("read %d bytes from an empty reader", n)
	}
	if q := in.quiet(); q < time.Hour {
		t.Errorf("quiet %v after an empty read, want it unchanged", q)
	}
}
