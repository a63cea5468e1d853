package winrm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mz "github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// wsman.go: the WS-Management calls the session pool makes on one
// endpoint. Create, Command, Signal and Delete go through masterzen/winrm's
// exported request builders (Command through its soap package, because
// NewExecuteCommandRequest hard-codes WINRS_CONSOLEMODE_STDIN=TRUE and
// WINRS_SKIP_CMD_SHELL=FALSE, the opposite of what the resident loop
// needs) and are posted by our own transport. Send and Receive, the hot
// path of the resident loop, use pre-built envelope templates and byte
// scanning of the reply instead of XML trees and path queries.

// WS-Management timing. A Receive long-polls up to opTimeout on the host
// and ends in the w:TimedOut fault when no output came; the HTTP wait for
// response headers is longer still, so the host's answer always arrives
// before the client gives up (the request's context may end it sooner).
const (
	opTimeout         = 20 * time.Second
	httpHeaderTimeout = opTimeout + 15*time.Second
	envelopeSize      = 153600 // w:MaxEnvelopeSize, WinRM's default 150 KiB
	// maxSendChunk bounds the stdin bytes of one Send, so the envelope
	// stays well under MaxEnvelopeSize after base64.
	maxSendChunk = 96 << 10
	// maxStderrKeep bounds the stderr kept of one command (it is drained
	// continuously and only read for error text).
	maxStderrKeep = 64 << 10
	// maxStdout bounds the stdout gathered for one request: an answer
	// frame (a script's output, base64 twice over: a 10 MB file pull is
	// some 18 MB) or a cold command's output. A host that streams more,
	// or never ends its frame, fails the request instead of growing the
	// console's memory until the deadline.
	maxStdout = 64 << 20
)

// errOutputTooLarge is a request whose output passed maxStdout.
var errOutputTooLarge = fmt.Errorf("%w: more than %d MiB of output for one request", errMalformed, maxStdout>>20)

// WS-Management URIs.
const (
	uriShellCmd     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
	uriActionCmd    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
	uriActionSend   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
	uriActionRecv   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
	uriAnonymous    = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
	stateDoneSuffix = "/CommandState/Done"
)

// errMalformed marks a reply the engine could not read: not XML, or not
// the element the request asks for. It is the host's problem (Device):
// asking again would get the same answer.
var errMalformed = errors.New("malformed WS-Management reply")

// endpoint is one WinRM listener reached with one credential. It holds
// nothing that changes after it is made, so shells share it.
type endpoint struct {
	client   *http.Client
	bufs     *sync.Pool // reply buffers (*[]byte), shared by the pool's endpoints
	url      string
	user     string
	password string   // never logged; String hides it
	auth     []string // Basic: the Authorization header value; never logged
	params   *mz.Parameters
	// sec authenticates connection by connection (NTLM, Kerberos,
	// Negotiate) and seals messages over HTTP; nil for Basic.
	sec *secureAuth
}

// String names the endpoint without its credential.
func (ep *endpoint) String() string { return ep.url + " as " + ep.user }

// GoString hides the credential from %#v.
func (ep *endpoint) GoString() string { return ep.String() }

var (
	soapContentType = []string{"application/soap+xml;charset=UTF-8"}
	// opTimeoutText is opTimeout as xs:duration, e.g. PT20.000S.
	opTimeoutText = fmt.Sprintf("PT%.3fS", opTimeout.Seconds())
)

func newEndpoint(client *http.Client, bufs *sync.Pool, url, user, password string) *endpoint {
	return &endpoint{
		client:   client,
		bufs:     bufs,
		url:      url,
		user:     user,
		password: password,
		auth:     []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))},
		params:   mz.NewParameters(opTimeoutText, "en-US", envelopeSize),
	}
}

// newSecureEndpoint is an endpoint whose connections authenticate with
// spec's method (NTLM, Kerberos, Negotiate).
func newSecureEndpoint(bufs *sync.Pool, url, user, password string, spec authSpec, kc *kerberosClient, counts *authCounters) *endpoint {
	return &endpoint{
		client:   &http.Client{Transport: spec.lean},
		bufs:     bufs,
		url:      url,
		user:     user,
		password: password,
		params:   mz.NewParameters(opTimeoutText, "en-US", envelopeSize),
		sec:      newSecureAuth(spec, url, user, password, kc, counts),
	}
}

// sameAuth reports whether the endpoint authenticates as spec says.
func (ep *endpoint) sameAuth(spec authSpec) bool {
	if ep.sec == nil {
		return spec.method == ""
	}
	return ep.sec.spec.equal(spec)
}

// post sends one envelope and returns the reply body of an HTTP 200, in
// a pooled buffer the caller gives back with release once it is done
// with it. Any other status is an *HTTPError carrying the WS-Man fault,
// if any.
func (ep *endpoint) post(ctx context.Context, body []byte) (*[]byte, error) {
	if ep.sec != nil {
		return ep.sec.post(ctx, ep, body)
	}
	return ep.postBody(ctx, bytes.NewReader(body), len(body))
}

// postPooled is post of an envelope built in a pooled buffer (buffer):
// the buffer goes back to the pool when the transport closes the request
// body, which an http.RoundTripper does once it no longer reads it (net/http
// may do so after RoundTrip returned).
func (ep *endpoint) postPooled(ctx context.Context, p *[]byte) (*[]byte, error) {
	if ep.sec != nil {
		defer ep.release(p)
		return ep.sec.post(ctx, ep, *p)
	}
	b := &pooledBody{ep: ep, p: p}
	b.Reset(*p)
	return ep.postBody(ctx, b, len(*p))
}

// pooledBody is a request body in a pooled buffer, given back on Close.
type pooledBody struct {
	bytes.Reader
	ep     *endpoint
	p      *[]byte
	closed atomic.Bool
}

// Close gives the buffer back, once.
func (b *pooledBody) Close() error {
	if !b.closed.Swap(true) {
		b.ep.release(b.p)
	}
	return nil
}

func (ep *endpoint) postBody(ctx context.Context, body io.Reader, n int) (*[]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, body)
	if err != nil {
		if c, ok := body.(io.Closer); ok {
			_ = c.Close()
		}
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.ContentLength = int64(n) // known for a pooledBody too
	req.Header = http.Header{"Content-Type": soapContentType, "Authorization": ep.auth}
	resp, err := ep.client.Do(req)
	if err != nil {
		return nil, err
	}
	p, err := ep.readBody(resp)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "application/soap+xml") {
			ep.release(p)
			return nil, fmt.Errorf("%w: content type %q is not application/soap+xml", errMalformed, ct)
		}
	}
	return ep.finish(p, resp.StatusCode, resp.Header)
}

// readBody reads a response's body into a pooled buffer and closes it.
func (ep *endpoint) readBody(resp *http.Response) (*[]byte, error) {
	defer resp.Body.Close()
	var p *[]byte
	var err error
	if n := resp.ContentLength; n >= 0 && n <= maxResponseBytes {
		p = ep.buffer(int(n))
		_, err = io.ReadFull(resp.Body, *p)
	} else {
		var b []byte
		b, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		p = &b
	}
	if err != nil {
		ep.release(p)
		return nil, fmt.Errorf("read response: %w", err)
	}
	return p, nil
}

// finish returns the body of a 200, else an *HTTPError with the fault
// the body carried (and on a 401 the schemes the host offers).
func (ep *endpoint) finish(p *[]byte, status int, h http.Header) (*[]byte, error) {
	if status == http.StatusOK {
		return p, nil
	}
	he := &HTTPError{Status: status}
	if len(*p) > 0 {
		he.Fault = parseFault(string(*p))
	}
	ep.release(p)
	if status == http.StatusUnauthorized {
		for _, v := range h.Values("Www-Authenticate") {
			if scheme, _, _ := strings.Cut(v, " "); scheme != "" {
				he.Offers = append(he.Offers, scheme)
			}
		}
	}
	return nil, he
}

// buffer returns a reply buffer of length n.
func (ep *endpoint) buffer(n int) *[]byte {
	if ep.bufs != nil {
		if p, ok := ep.bufs.Get().(*[]byte); ok {
			if cap(*p) >= n {
				*p = (*p)[:n]
				return p
			}
			ep.bufs.Put(p)
		}
	}
	b := make([]byte, n, max(n, 4<<10))
	return &b
}

// release gives a reply buffer back.
func (ep *endpoint) release(p *[]byte) {
	if ep.bufs != nil && p != nil && cap(*p) <= 64<<10 {
		ep.bufs.Put(p)
	}
}

// createShell opens a cmd shell (code page 65001) and returns its id and
// the client address the host saw (rsp:ClientIP of the reply; "" when the
// host does not say), which marks the shells of this client in a later
// enumeration.
func (ep *endpoint) createShell(ctx context.Context) (id, clientIP string, err error) {
	p, err := ep.post(ctx, []byte(mz.NewOpenShellRequest(ep.url, ep.params).String()))
	if err != nil {
		return "", "", err
	}
	id = shellIDOf(*p)
	clientIP = scanElementText(*p, "ClientIP")
	ep.release(p)
	if id == "" {
		return "", "", fmt.Errorf("%w: no ShellId in the Create reply", errMalformed)
	}
	return id, clientIP, nil
}

// shellIDOf reads the shell id of a CreateResponse: the rsp:ShellId of
// its rsp:Shell body (WinRM 3.0 and later), else the ShellId selector of
// its ResourceCreated reference, which is all a WinRM 2.0 host sends.
func shellIDOf(b []byte) string {
	if id := scanElementText(b, "ShellId"); id != "" {
		return id
	}
	for i := 0; i < len(b); {
		j := bytes.Index(b[i:], []byte("Selector"))
		if j < 0 {
			return ""
		}
		j += i
		i = j + len("Selector")
		gt := bytes.IndexByte(b[i:], '>')
		if gt < 0 || j == 0 || (b[j-1] != ':' && b[j-1] != '<') {
			continue
		}
		attrs := b[i : i+gt]
		if string(attrValue(attrs, "Name")) != "ShellId" {
			continue
		}
		text := b[i+gt+1:]
		end := bytes.IndexByte(text, '<')
		if end < 0 {
			return ""
		}
		return strings.TrimSpace(string(text[:end]))
	}
	return ""
}

// deleteShell deletes a shell; the host ends its processes.
func (ep *endpoint) deleteShell(ctx context.Context, shellID string) error {
	p, err := ep.post(ctx, []byte(mz.NewDeleteShellRequest(ep.url, shellID, ep.params).String()))
	ep.release(p)
	return err
}

// signalTerminate ends a running command. Never call it for a command
// whose Receive already reported Done: the host answers with a fault.
func (ep *endpoint) signalTerminate(ctx context.Context, shellID, commandID string) error {
	p, err := ep.post(ctx, []byte(mz.NewSignalRequest(ep.url, shellID, commandID, ep.params).String()))
	ep.release(p)
	return err
}

// startCommand runs a program in the shell, without cmd.exe and with
// stdin as a pipe (WINRS_SKIP_CMD_SHELL=TRUE, WINRS_CONSOLEMODE_STDIN=
// FALSE), and returns the command id. script names what it is for, in
// errors. A command line Windows would refuse is not sent.
func (ep *endpoint) startCommand(ctx context.Context, shellID, script, program string, args ...string) (string, error) {
	if err := checkCommandLine(script, program, args...); err != nil {
		return "", err
	}
	msg := commandMessage(ep.url, shellID, ep.params, program, args...)
	p, err := ep.post(ctx, []byte(msg.String()))
	if err != nil {
		return "", err
	}
	id := scanElementText(*p, "CommandId")
	ep.release(p)
	if id == "" {
		return "", fmt.Errorf("%w: no CommandId in the Command reply", errMalformed)
	}
	return id, nil
}

// Windows' command-line limits: CreateProcess takes at most 32,767
// characters with the terminating NUL (WINRS_SKIP_CMD_SHELL=TRUE, what
// rmm sends), cmd.exe at most 8,191.
const (
	MaxCreateProcessLine = 32767
	MaxCmdExeLine        = 8191
)

// CommandLineTooLongError is a command line Windows would refuse: rmm
// does not send it. Scripts travel over stdin, so only a bug (a script
// put on a command line) gets here; it is a Configuration error naming
// the script, never an unreachable device.
type CommandLineTooLongError struct {
	Script string
	Length int
	Limit  int
}

func (e *CommandLineTooLongError) Error() string {
	return fmt.Sprintf("the command line for %s is %d characters; Windows refuses more than %d (CreateProcess), so it was not sent", e.Script, e.Length, e.Limit-1)
}

// checkCommandLine refuses a command line CreateProcess would refuse
// (winrs joins the program and its arguments with spaces).
func checkCommandLine(script, program string, args ...string) error {
	n := len(program)
	for _, a := range args {
		n += 1 + len(a)
	}
	if n >= MaxCreateProcessLine {
		return &CommandLineTooLongError{Script: script, Length: n, Limit: MaxCreateProcessLine}
	}
	return nil
}

// commandMessage builds a shell/Command with stdin as a pipe and without
// cmd.exe (masterzen's NewExecuteCommandRequest hard-codes the opposite).
func commandMessage(url, shellID string, params *mz.Parameters, program string, args ...string) *soap.SoapMessage {
	msg := soap.NewMessage()
	msg.Header().
		To(url).
		ReplyTo(uriAnonymous).
		MaxEnvelopeSize(params.EnvelopeSize).
		Id(newMessageID()).
		Locale(params.Locale).
		Timeout(params.Timeout).
		Action(uriActionCmd).
		ResourceURI(uriShellCmd).
		ShellId(shellID).
		AddOption(soap.NewHeaderOption("WINRS_CONSOLEMODE_STDIN", "FALSE")).
		AddOption(soap.NewHeaderOption("WINRS_SKIP_CMD_SHELL", "TRUE")).
		Build()
	body := msg.CreateBodyElement("CommandLine", soap.DOM_NS_WIN_SHELL)
	msg.CreateElement(body, "Command", soap.DOM_NS_WIN_SHELL).SetContent("<![CDATA[" + program + "]]>")
	for _, a := range args {
		msg.CreateElement(body, "Arguments", soap.DOM_NS_WIN_SHELL).SetContent("<![CDATA[" + a + "]]>")
	}
	return msg
}

// newMessageID returns "uuid:" and a random (version 4) UUID.
func newMessageID() string {
	return string(appendUUID(make([]byte, 0, 41)))
}

// appendUUID appends "uuid:" and a random version 4 UUID.
func appendUUID(b []byte) []byte {
	var r [16]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails
	r[6] = r[6]&0x0f | 0x40
	r[8] = r[8]&0x3f | 0x80
	const hexdig = "0123456789ABCDEF"
	b = append(b, "uuid:"...)
	for i, c := range r {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexdig[c>>4], hexdig[c&0x0f])
	}
	return b
}

// commandWire sends and receives for one command. Its envelopes are
// built by appending constant text, the escaped endpoint, shell and
// command ids, a fresh MessageID and the base64 data: no XML tree, no
// per-shell template kept in memory (10,000 shells would hold tens of
// megabytes of them).
type commandWire struct {
	ep        *endpoint
	shellID   string
	commandID string
}

func newCommandWire(ep *endpoint, shellID, commandID string) *commandWire {
	return &commandWire{ep: ep, shellID: shellID, commandID: commandID}
}

// The fixed parts of a Send or Receive envelope, in order.
const (
	envHead = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">` +
		`<s:Header><a:To>`
	envAfterTo = `</a:To><a:ReplyTo><a:Address s:mustUnderstand="true">` + uriAnonymous + `</a:Address></a:ReplyTo>` +
		`<w:MaxEnvelopeSize s:mustUnderstand="true">153600</w:MaxEnvelopeSize><a:MessageID>`
	envAfterID = `</a:MessageID><w:Locale xml:lang="en-US" s:mustUnderstand="false"/><w:OperationTimeout>`
	envAction  = `</w:OperationTimeout><a:Action s:mustUnderstand="true">`
	envShell   = `</a:Action><w:ResourceURI s:mustUnderstand="true">` + uriShellCmd + `</w:ResourceURI>` +
		`<w:SelectorSet><w:Selector Name="ShellId">`
	envBody     = `</w:Selector></w:SelectorSet></s:Header><s:Body>`
	sendOpen    = `<rsp:Send><rsp:Stream Name="stdin" CommandId="`
	sendTail    = `</rsp:Stream></rsp:Send></s:Body></s:Envelope>`
	receiveOpen = `<rsp:Receive><rsp:DesiredStream CommandId="`
	receiveTail = `">stdout stderr</rsp:DesiredStream></rsp:Receive></s:Body></s:Envelope>`
)

// appendHeader appends the envelope up to the opening of the body.
func (w *commandWire) appendHeader(b []byte, action string) []byte {
	b = append(b, envHead...)
	b = appendEscaped(b, w.ep.url)
	b = append(b, envAfterTo...)
	b = appendUUID(b)
	b = append(b, envAfterID...)
	b = append(b, opTimeoutText...)
	b = append(b, envAction...)
	b = append(b, action...)
	b = append(b, envShell...)
	b = appendEscaped(b, w.shellID)
	return append(b, envBody...)
}

const envFixedLen = len(envHead) + len(envAfterTo) + 41 + len(envAfterID) + len(envAction) + len(envShell) + len(envBody) + 80

// sendEnvelope builds a Send of data (at most maxSendChunk bytes) in a
// pooled buffer.
func (w *commandWire) sendEnvelope(data []byte, eof bool) *[]byte {
	n := envFixedLen + len(w.ep.url) + 2*len(w.shellID) + len(uriActionSend) + len(sendOpen) + len(w.commandID) + 16 +
		base64.StdEncoding.EncodedLen(len(data)) + len(sendTail)
	p := w.ep.buffer(n)
	b := w.appendHeader((*p)[:0], uriActionSend)
	b = append(b, sendOpen...)
	b = appendEscaped(b, w.commandID)
	if eof {
		b = append(b, `" End="true">`...)
	} else {
		b = append(b, `">`...)
	}
	b = base64.StdEncoding.AppendEncode(b, data)
	*p = append(b, sendTail...)
	return p
}

// receiveEnvelope builds a Receive of stdout and stderr in a pooled
// buffer.
func (w *commandWire) receiveEnvelope() *[]byte {
	n := envFixedLen + len(w.ep.url) + 2*len(w.shellID) + len(uriActionRecv) + len(receiveOpen) + len(w.commandID) + len(receiveTail)
	p := w.ep.buffer(n)
	b := w.appendHeader((*p)[:0], uriActionRecv)
	b = append(b, receiveOpen...)
	b = appendEscaped(b, w.commandID)
	*p = append(b, receiveTail...)
	return p
}

// appendEscaped appends s as XML text or attribute value.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '"':
			b = append(b, "&quot;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// send writes data to the command's stdin, in chunks that fit the
// envelope. A Send that failed is never sent again: it may have been
// applied.
func (w *commandWire) send(ctx context.Context, data []byte, eof bool) error {
	for {
		chunk := data[:min(len(data), maxSendChunk)]
		data = data[len(chunk):]
		last := len(data) == 0
		p, err := w.ep.postPooled(ctx, w.sendEnvelope(chunk, eof && last))
		if err != nil {
			return err
		}
		ok := bytes.Contains(*p, []byte("SendResponse"))
		w.ep.release(p)
		if !ok {
			return fmt.Errorf("%w: no SendResponse in the Send reply", errMalformed)
		}
		if last {
			return nil
		}
	}
}

// receiveResult is what one Receive brought.
type receiveResult struct {
	done     bool // the command ended and all its output was delivered
	exitCode int
}

// receive asks for output once, appending stdout and stderr to the given
// buffers. A Receive that found no output within the OperationTimeout
// ends in the w:TimedOut fault: that is not an error, and receive returns
// an empty result so the caller asks again.
func (w *commandWire) receive(ctx context.Context, stdout, stderr *[]byte) (receiveResult, error) {
	p, err := w.ep.postPooled(ctx, w.receiveEnvelope())
	if err != nil {
		var he *HTTPError
		if errors.As(err, &he) && he.Fault != nil && he.Fault.Code == FaultTimedOut {
			return receiveResult{}, nil
		}
		return receiveResult{}, err
	}
	res, err := decodeReceive(*p, stdout, stderr) // copies what it keeps
	w.ep.release(p)
	return res, err
}

// decodeReceive reads a ReceiveResponse by scanning its bytes: every
// Stream element's base64 text (by its Name attribute), the CommandState's
// State and the ExitCode. Namespace prefixes are ignored (WinRM always
// uses rsp:); elements the engine does not use are skipped.
func decodeReceive(b []byte, stdout, stderr *[]byte) (receiveResult, error) {
	var res receiveResult
	if !bytes.Contains(b, []byte("ReceiveResponse")) {
		return res, fmt.Errorf("%w: no ReceiveResponse in the Receive reply", errMalformed)
	}
	if end := bytes.LastIndex(b, []byte("Envelope>")); end < 0 || len(bytes.TrimSpace(b[end+len("Envelope>"):])) != 0 {
		return res, fmt.Errorf("%w: the Receive reply is cut short", errMalformed)
	}
	for i := 0; i < len(b); {
		lt := bytes.IndexByte(b[i:], '<')
		if lt < 0 {
			break
		}
		i += lt + 1
		if i >= len(b) || b[i] == '/' || b[i] == '?' || b[i] == '!' {
			continue
		}
		gt := bytes.IndexByte(b[i:], '>')
		if gt < 0 {
			return res, fmt.Errorf("%w: unterminated tag", errMalformed)
		}
		tag := b[i : i+gt]
		i += gt + 1
		selfClosing := len(tag) > 0 && tag[len(tag)-1] == '/'
		name, attrs := tag, []byte(nil)
		if sp := bytes.IndexAny(tag, " \t\r\n/"); sp >= 0 {
			name, attrs = tag[:sp], tag[sp:]
		}
		if c := bytes.IndexByte(name, ':'); c >= 0 {
			name = name[c+1:]
		}
		switch string(name) {
		case "Stream":
			if selfClosing {
				continue
			}
			end := bytes.IndexByte(b[i:], '<')
			if end < 0 {
				return res, fmt.Errorf("%w: unterminated Stream", errMalformed)
			}
			text := bytes.TrimSpace(b[i : i+end])
			i += end
			if len(text) == 0 {
				continue
			}
			var dst *[]byte
			switch string(attrValue(attrs, "Name")) {
			case "stdout":
				dst = stdout
			case "stderr":
				dst = stderr
			default:
				continue
			}
			var err error
			*dst, err = base64.StdEncoding.AppendDecode(*dst, text)
			if err != nil {
				return res, fmt.Errorf("%w: Stream is not base64: %v", errMalformed, err)
			}
		case "CommandState":
			if bytes.HasSuffix(attrValue(attrs, "State"), []byte(stateDoneSuffix)) {
				res.done = true
			}
		case "ExitCode":
			end := bytes.IndexByte(b[i:], '<')
			if end < 0 {
				return res, fmt.Errorf("%w: unterminated ExitCode", errMalformed)
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(b[i:i+end])), 10, 64)
			if err != nil {
				return res, fmt.Errorf("%w: ExitCode %q", errMalformed, b[i:i+end])
			}
			res.exitCode = int(int32(n)) // Windows exit codes are 32-bit; 0xC0000005 is negative
			i += end
		}
	}
	return res, nil
}

// attrValue returns the value of attribute name in the attribute text of
// a start tag, or nil.
func attrValue(attrs []byte, name string) []byte {
	for i := 0; i < len(attrs); {
		j := bytes.Index(attrs[i:], []byte(name))
		if j < 0 {
			return nil
		}
		j += i
		k := j + len(name)
		before := j == 0 || attrs[j-1] == ' ' || attrs[j-1] == '\t' || attrs[j-1] == '\r' || attrs[j-1] == '\n' || attrs[j-1] == ':'
		if before && k+1 < len(attrs) && attrs[k] == '=' && (attrs[k+1] == '"' || attrs[k+1] == '\'') {
			q := attrs[k+1]
			end := bytes.IndexByte(attrs[k+2:], q)
			if end < 0 {
				return nil
			}
			return attrs[k+2 : k+2+end]
		}
		i = k
	}
	return nil
}

// scanElementText returns the text of the first element with the given
// local name (any prefix), or "".
func scanElementText(b []byte, local string) string {
	for i := 0; i < len(b); {
		j := bytes.Index(b[i:], []byte(local+">"))
		if j < 0 {
			return ""
		}
		j += i
		i = j + len(local) + 1
		if j == 0 || (b[j-1] != ':' && b[j-1] != '<') {
			continue
		}
		start := bytes.LastIndexByte(b[:j], '<')
		if start < 0 || b[start+1] == '/' {
			continue
		}
		end := bytes.IndexByte(b[i:], '<')
		if end < 0 {
			return ""
		}
		return strings.TrimSpace(string(b[i : i+end]))
	}
	return ""
}
