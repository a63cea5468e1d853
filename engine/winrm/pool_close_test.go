package winrm

import (
	"context"
	"testing"
)

// A pool whose shells are all deleted reports a clean close even when
// deleting them took past the deadline: with 10,000 HTTPS hosts whose
// connections had expired, the Deletes' TLS handshakes outlasted the
// 30 s close timeout, and a select over the closed drained channel and
// the expired context picked either, failing about one close in two.
func TestADrainedPoolClosesCleanlyPastItsDeadline(t *testing.T) {
	p := &sessionPool{drained: make(chan struct{})}
	close(p.drained)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 200 {
		if err := p.wait(ctx); err != nil {
			t.Fatalf("wait %d: %v, want nil: every shell is gone", i, err)
		}
	}
}
