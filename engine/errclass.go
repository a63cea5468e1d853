package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"
)

// Class is what the engine does about an error (DESIGN.md, error classes).
type Class int

// Error classes.
const (
	// ClassTransient errors (timeouts, resets, 5xx without a WS-Man fault)
	// are retried with exponential backoff and jitter, a bounded number
	// of times.
	ClassTransient Class = iota + 1
	// ClassDevice errors (refused, no route, WinRM off, shell quota) mark
	// the device Offline.
	ClassDevice
	// ClassConfiguration errors (401/403, bad credential, TLS verify
	// failure) are not retried; an admin must fix something.
	ClassConfiguration
	// ClassFatal errors (database unwritable, disk full) stop scheduling.
	ClassFatal
)

func (c Class) String() string {
	switch c {
	case ClassTransient:
		return "transient"
	case ClassDevice:
		return "device"
	case ClassConfiguration:
		return "configuration"
	case ClassFatal:
		return "fatal"
	}
	return "unknown"
}

// Error is an error classed where it arose, with the device and the step.
type Error struct {
	Class  Class
	Device string // hostname; empty for engine-wide errors
	Step   string // e.g. "run metrics", "parse metrics", "write batch"
	Err    error
}

func (e *Error) Error() string {
	if e.Device == "" {
		return fmt.Sprintf("%s: %v", e.Step, e.Err)
	}
	return fmt.Sprintf("poll %s: %s: %v", e.Device, e.Step, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns the class of err: the class it was given, or the class
// its cause implies.
func ClassOf(err error) Class {
	var ce *Error
	if errors.As(err, &ce) && ce.Class != 0 {
		return ce.Class
	}
	return classify(err)
}

// classify decides on types, errno values, HTTP status and fault codes,
// never on message text.
func classify(err error) Class {
	if err == nil {
		return 0
	}
	var he *HTTPError
	if errors.As(err, &he) {
		switch {
		case he.Status == 401 || he.Status == 403:
			return ClassConfiguration
		case he.Status == 413:
			return ClassConfiguration
		case he.Fault != nil && he.Fault.Code != 0:
			switch he.Fault.Code {
			case FaultShellNotFound, FaultTimedOut:
				return ClassTransient
			case FaultEnvelopeTooBig:
				return ClassConfiguration
			default: // quotas and the host's other faults
				return ClassDevice
			}
		case he.Status >= 500:
			return ClassTransient
		default:
			return ClassConfiguration
		}
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		certErr   x509.CertificateInvalidError
		verifyErr *tls.CertificateVerificationError
		recErr    tls.RecordHeaderError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &certErr) ||
		errors.As(err, &verifyErr) || errors.As(err, &recErr) {
		return ClassConfiguration
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return ClassDevice
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ClassTransient
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsTemporary || dnsErr.IsTimeout {
			return ClassTransient
		}
		return ClassDevice
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ClassTransient
	}
	// An answer the engine cannot use (bad JSON, a script error) is the
	// host's problem; retrying would not change it.
	return ClassDevice
}

// Backoff returns the wait before retry number attempt (0-based):
// exponential from base, capped at limit, with full jitter in [d/2, d].
func Backoff(attempt int, base, limit time.Duration) time.Duration {
	d := base
	for i := 0; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	half := d / 2
	return half + rand.N(half+1)
}
