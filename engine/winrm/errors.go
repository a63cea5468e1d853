package winrm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
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
		case he.Fault != nil && he.Fault.accessDenied():
			// The account may not use WinRM there (not an administrator,
			// UAC remote restrictions on a local account): an admin must
			// fix it; the host is up.
			return ClassConfiguration
		case he.Fault != nil && he.Fault.Code != 0:
			switch he.Fault.Code {
			case FaultShellNotFound, FaultTimedOut, FaultOperationsQuota:
				// A new shell fixes it (the pool recreates the shell
				// for the operations quota), or it was no error at all.
				return ClassTransient
			case FaultEnvelopeTooBig, FaultCommandLineTooLong:
				// The request is too large for the host's limits: asking
				// again sends the same request.
				return ClassConfiguration
			default: // the shell quota and the host's other faults
				return ClassDevice
			}
		case he.Status >= 500:
			return ClassTransient
		default:
			return ClassConfiguration
		}
	}
	var tooLong *CommandLineTooLongError
	if errors.As(err, &tooLong) {
		return ClassConfiguration
	}
	var (
		krbErr  *KerberosError
		authErr *AuthError
	)
	if errors.As(err, &krbErr) || errors.As(err, &authErr) || errors.Is(err, errNotEncrypted) {
		// An account, a realm, a clock or a host's setup to fix; a host
		// that answers readable on a sealed connection is set up wrong.
		return ClassConfiguration
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
	// An https device on a listener that does not speak TLS (usually the
	// HTTP listener): net/http turns the TLS record header error into
	// ErrSchemeMismatch, and our dialer into ErrNotTLS. The host answered;
	// rmm is set up wrong for it.
	if errors.Is(err, ErrNotTLS) || errors.Is(err, http.ErrSchemeMismatch) {
		return ClassConfiguration
	}
	if OutOfDescriptors(err) {
		// This process ran out of sockets: nothing is known about the
		// device; a later attempt may find one free.
		return ClassTransient
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

// OutOfDescriptors reports an error of this process running out of file
// descriptors (EMFILE, ENFILE) or socket buffers (ENOBUFS): the request
// never left, so it says nothing about the device.
func OutOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOBUFS)
}

// Backoff returns the wait before retry number attempt (0-based):
// exponential from base, capped at limit, with "equal jitter": a random
// wait in [d/2, d], so retries spread out but never come sooner than d/2.
func Backoff(attempt int, base, limit time.Duration) time.Duration {
	d := base
	for i := 0; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	half := d / 2
	return half + rand.N(half+1)
}

// WS-Management fault codes the engine decides on. Decisions use these
// numbers, never the message text (which Windows localises).
const (
	FaultShellNotFound   = 2150858843 // the shell id is unknown (reboot, idle expiry, deleted)
	FaultTimedOut        = 2150858793 // a Receive found no output within OperationTimeout
	FaultShellQuota      = 2150859173 // MaxShellsPerUser reached
	FaultOperationsQuota = 2150859174 // MaxConcurrentOperationsPerUser reached
	FaultEnvelopeTooBig  = 0x80338111 // MaxEnvelopeSize exceeded
	// FaultCommandLineTooLong is ERROR_FILENAME_EXCED_RANGE as an HRESULT
	// (0x800700CE): CreateProcess refused a command line over 32,767
	// characters ("The filename or extension is too long.").
	FaultCommandLineTooLong = 2147942606
	// FaultAccessDenied is ERROR_ACCESS_DENIED (5); Windows also sends it
	// as the HRESULT 0x80070005 (FaultAccessDeniedHRESULT). The account
	// may not use WinRM on the host.
	FaultAccessDenied        = 5
	FaultAccessDeniedHRESULT = 2147942405
)

// maxResponseBytes bounds what one WS-Man response may hold; Windows'
// default MaxEnvelopeSizekb is 500.
const maxResponseBytes = 8 << 20

// HTTPError is a WS-Man endpoint's non-200 answer. Fault is set when the
// body carried a WS-Management fault.
type HTTPError struct {
	Status int
	Fault  *Fault
	Offers []string // on a 401: the authentication schemes the host offers (WWW-Authenticate), when known
}

// Fault is the part of a WS-Management SOAP fault the engine uses.
// Windows words the same fault in several shapes (see parseFault); Code
// is the number whichever shape carried it.
type Fault struct {
	Code    uint64 // the fault's code, e.g. 2150858843; 0 when absent
	Subcode string // e.g. "w:TimedOut"
	Message string
}

// accessDenied reports the account being refused by the host, in any of
// the shapes Windows sends it.
func (f *Fault) accessDenied() bool {
	return f.Code == FaultAccessDenied || f.Code == FaultAccessDeniedHRESULT ||
		strings.HasSuffix(f.Subcode, ":AccessDenied") || f.Subcode == "AccessDenied"
}

// faultNames are the faults the engine acts on, named for error text.
var faultNames = map[uint64]string{
	FaultShellNotFound:       "shell not found",
	FaultTimedOut:            "operation timed out",
	FaultShellQuota:          "shell quota exceeded",
	FaultOperationsQuota:     "operations quota exceeded",
	FaultEnvelopeTooBig:      "envelope too large",
	FaultCommandLineTooLong:  "command line too long for CreateProcess",
	FaultAccessDenied:        "access denied",
	FaultAccessDeniedHRESULT: "access denied",
}

func (e *HTTPError) Error() string {
	if e.Fault == nil {
		if len(e.Offers) > 0 {
			return fmt.Sprintf("HTTP %d %s (the host offers %s)", e.Status, http.StatusText(e.Status), strings.Join(e.Offers, ", "))
		}
		return fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	if name, ok := faultNames[e.Fault.Code]; ok {
		return fmt.Sprintf("%s (%d)", name, e.Fault.Code)
	}
	if e.Fault.Code != 0 {
		return fmt.Sprintf("HTTP %d: WS-Man fault %d: %s", e.Status, e.Fault.Code, e.Fault.Message)
	}
	return fmt.Sprintf("HTTP %d: WS-Man fault %s: %s", e.Status, e.Fault.Subcode, e.Fault.Message)
}

var (
	faultCodeRE    = regexp.MustCompile(`<(?:\w+:)?WSManFault\b[^>]*\bCode=["'](\d+)["']`)
	faultWmiCodeRE = regexp.MustCompile(`<(?:\w+:)?error_Code\b[^>]*>\s*(\d+)\s*<`)
	faultHResultRE = regexp.MustCompile(`<(?:\w+:)?MessageID\b[^>]*>\s*HRESULT\s+0x([0-9A-Fa-f]{1,8})\s*<`)
	faultMessageRE = regexp.MustCompile(`(?s)<(?:\w+:)?Message(?:\s[^>]*)?>(.*?)</(?:\w+:)?Message>`)
	faultReasonRE  = regexp.MustCompile(`(?s)<(?:\w+:)?Reason>\s*<(?:\w+:)?Text[^>]*>(.*?)</`)
	faultSubRE     = regexp.MustCompile(`(?s)<(?:\w+:)?Subcode>\s*<(?:\w+:)?Value>(.*?)</`)
	tagRE          = regexp.MustCompile(`<[^>]*>`)
)

// parseFault extracts a WS-Man fault from a SOAP body, or returns nil.
// Windows sends the fault's number in one of three shapes: the Code
// attribute of a WSManFault (double or single quotes; the outer one of a
// nested provider fault), or, as WMI does for quotas, an MSFT_WmiError
// with an error_Code element and a MessageID "HRESULT 0x803381A5".
func parseFault(body string) *Fault {
	if !strings.Contains(body, "Fault") && !strings.Contains(body, "WmiError") {
		return nil
	}
	f := &Fault{}
	if m := faultCodeRE.FindStringSubmatch(body); m != nil {
		f.Code, _ = strconv.ParseUint(m[1], 10, 64)
	} else if m := faultWmiCodeRE.FindStringSubmatch(body); m != nil {
		f.Code, _ = strconv.ParseUint(m[1], 10, 64)
	} else if m := faultHResultRE.FindStringSubmatch(body); m != nil {
		f.Code, _ = strconv.ParseUint(m[1], 16, 64)
	}
	if m := faultSubRE.FindStringSubmatch(body); m != nil {
		f.Subcode = strings.TrimSpace(m[1])
	}
	if m := faultMessageRE.FindStringSubmatch(body); m != nil {
		f.Message = xmlText(m[1])
	} else if m := faultReasonRE.FindStringSubmatch(body); m != nil {
		f.Message = xmlText(m[1])
	}
	if f.Code == 0 && f.Subcode == "" && f.Message == "" {
		return nil
	}
	return f
}

// xmlText strips inner tags and collapses whitespace, enough for a message.
func xmlText(s string) string {
	s = tagRE.ReplaceAllString(s, "")
	s = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&apos;", "'", "&amp;", "&").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

// ErrNotTLS is wrapped by the error of an https request whose listener
// answered without TLS: an HTTP listener (WinRM's 5985) or another
// service on the port. It is a Configuration error.
var ErrNotTLS = errors.New("the listener does not speak TLS")

// handshakeFailure is the error of a TLS dial to addr that failed: a
// listener that does not speak TLS is explained (ErrNotTLS), a
// verification failure becomes a *TLSError (tlsFailure), anything else
// is returned as it is.
func handshakeFailure(addr, name string, key tlsKey, err error) error {
	var rec tls.RecordHeaderError
	if errors.As(err, &rec) {
		return notTLS(addr, rec)
	}
	return tlsFailure(name, key, err)
}

// notTLS explains a TLS record header error: what the port answered and
// how to fix the device.
func notTLS(addr string, rec tls.RecordHeaderError) error {
	what := "something that is not TLS"
	if looksLikeHTTP(rec.RecordHeader[:]) {
		what = "plain HTTP (an HTTP listener, as on WinRM's 5985)"
	}
	return fmt.Errorf("https to %s: %w: it answered in %s; set the device's Transport to http (an Admin change) "+
		"or its Port to the HTTPS listener (5986 by default): %w", addr, ErrNotTLS, what, rec)
}

// looksLikeHTTP reports whether the first bytes a server sent are the
// start of an HTTP response (or a request method, for a proxy).
func looksLikeHTTP(h []byte) bool {
	for _, p := range []string{"HTTP/", "GET /", "POST ", "HEAD "} {
		n := min(len(p), len(h))
		if n > 0 && string(h[:n]) == p[:n] {
			return true
		}
	}
	return false
}

// TLSError is a TLS handshake that failed verification, with the reason
// in the admin's words. It unwraps to the crypto/x509 error, so it is
// classed Configuration.
type TLSError struct {
	Name   string // the name the certificate was checked against
	Reason string // e.g. "signed by an unknown authority"
	Fix    string
	Err    error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("TLS: the certificate of %s %s; %s", e.Name, e.Reason, e.Fix)
}

func (e *TLSError) Unwrap() error { return e.Err }

// tlsFailure turns a verification failure into a *TLSError; other
// errors (refused, reset) are returned as they are.
func tlsFailure(name string, key tlsKey, err error) error {
	var (
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	trust := "the system trust store"
	if key.caBundle != "" {
		trust = "CA bundle " + key.caBundle
	}
	switch {
	case errors.As(err, &unknown):
		issuer := ""
		if unknown.Cert != nil {
			issuer = " (" + unknown.Cert.Issuer.CommonName + ")"
		}
		return &TLSError{Name: name, Reason: "is signed by an unknown authority" + issuer + ", not by " + trust,
			Fix: "set winrm.ca_bundle or the device's CABundle to the issuing CA's PEM file", Err: err}
	case errors.As(err, &host):
		names := "no DNS name"
		if host.Certificate != nil && len(host.Certificate.DNSNames) > 0 {
			names = strings.Join(host.Certificate.DNSNames, ", ")
		}
		return &TLSError{Name: name, Reason: "is for " + names + ": wrong host name",
			Fix: "put the name the certificate holds in the FQDN column, or reissue the certificate for " + name, Err: err}
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		when := ""
		if invalid.Cert != nil {
			when = " on " + invalid.Cert.NotAfter.UTC().Format("2006-01-02")
		}
		return &TLSError{Name: name, Reason: "expired" + when,
			Fix: "renew it and rebind the HTTPS listener (see rmm doctor)", Err: err}
	case errors.As(err, &invalid):
		return &TLSError{Name: name, Reason: "is not valid: " + invalid.Error(), Fix: "check the listener's certificate", Err: err}
	}
	return err
}
