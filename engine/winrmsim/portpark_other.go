//go:build !linux

package winrmsim

import "net"

// park cannot keep a port bound without listening outside Linux: the
// offline host's listener is closed, and the port is free until the
// host comes back (another process may take it meanwhile).
func park(net.Listener) error { return errParkUnsupported }

// unpark is never reached: nothing is parked.
func unpark(net.Listener) error { return errParkUnsupported }
