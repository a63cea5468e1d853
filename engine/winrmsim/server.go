package winrmsim

import (
	"bytes"
	"encoding/base64"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRequestBytes bounds a request body; WinRM's MaxEnvelopeSizekb is 500
// at most, so anything larger is not a WS-Management request.
const maxRequestBytes = 1 << 20

// watchAfter is the shortest wait for which a handler watches the
// connection for the client leaving.
const watchAfter = time.Second

// soapContentType is what every WS-Management reply carries.
const soapContentType = "application/soap+xml;charset=UTF-8"

// serveRequest is the WS-Management endpoint of every host: it answers
// one request read from a connection to host sc.h. It reports whether
// the connection may serve another request.
func (f *Fleet) serveRequest(sc *serverConn, hr *httpRequest) bool {
	h := sc.h
	h.stats.requests.Add(1)
	if f.cfg.RTT > 0 && !f.pause(f.cfg.RTT) {
		return false
	}
	x := &exchange{f: f, h: h, sc: sc, hr: hr}
	defer x.stopWatch()
	if f.injectHTTPFault(x) {
		return !x.clientLeft
	}

	anonPath := hr.path == "/wsman-anon/identify"
	if hr.path != "/wsman" && !anonPath {
		x.respond(http.StatusNotFound, "", nil, nil)
		return true
	}
	if hr.method != http.MethodPost {
		x.respond(http.StatusMethodNotAllowed, "", []string{"Allow", http.MethodPost}, nil)
		return true
	}
	done, secAuthed := x.secure()
	if done {
		return !x.clientLeft && !hr.closeAfter
	}
	// A joined host has Basic off, as Windows' default does.
	authed := secAuthed || (!h.hp.domain || f.cfg.JoinedBasic) && f.authorized(hr)
	if authed && !secAuthed && !f.cfg.AllowUnencrypted && f.transport(h.name) == "http" {
		// Basic over plain HTTP: Windows refuses it unless the service
		// allows unencrypted traffic (its default does not), and offers
		// only what encrypts the messages.
		x.h.stats.authFailures.Add(1)
		x.respond(http.StatusUnauthorized, "", []string{"WWW-Authenticate", "Negotiate"}, nil)
		return true
	}
	// Test-WSMan without credentials: Windows answers an Identify that
	// says it is unauthenticated, and only that.
	anonymous := !authed && !hr.hasAuth && (anonPath || hr.identifyAnon)
	if !authed && !anonymous {
		x.unauthorized()
		return true
	}
	if !hr.soapContent {
		x.respond(http.StatusUnsupportedMediaType, "", nil, nil)
		return true
	}
	if hr.tooBig || len(*hr.body) > f.envelopeLimit(h) {
		x.fail(faultEnvelopeTooBig())
		return !hr.tooBig
	}
	req, err := f.bufs.scan(*hr.body) // the request holds copies of what it needs
	if err != nil {
		x.fail(faultSchema(http.StatusBadRequest, "The WS-Management service cannot process the request because the XML is not well formed. "))
		return true
	}
	x.req = req

	action := strings.TrimSpace(req.Header.Action)
	if action == "" && req.Body.Identify != nil {
		x.identify(authed)
		return true
	}
	if anonymous {
		x.unauthorized()
		return true
	}
	if h.fault() == FaultAccessDenied {
		h.stats.injected.Add(1)
		x.fail(faultAccessDenied(h.seed>>41&1 == 1))
		return true
	}
	switch action {
	case actionCreate:
		h.stats.creates.Add(1)
		x.create()
	case actionCommand:
		h.stats.commandRequests.Add(1)
		x.command()
	case actionSend:
		h.stats.sends.Add(1)
		x.send()
	case actionReceive:
		h.stats.receives.Add(1)
		x.receive()
	case actionSignal:
		h.stats.signals.Add(1)
		x.signal()
	case actionDelete:
		h.stats.deletes.Add(1)
		x.delete()
	case actionEnum:
		h.stats.enumerates.Add(1)
		x.enumerate()
	case actionPull:
		h.stats.enumerates.Add(1)
		x.pull()
	case "":
		x.fail(faultSchema(http.StatusInternalServerError, "The WS-Management service cannot process the request because the header does not contain an Action. "))
	default:
		x.fail(faultActionNotSupported(action))
	}
	return !x.clientLeft
}

// unauthorized answers 401 with the schemes Windows offers: a joined
// host Negotiate and Kerberos (Basic is off), the others Negotiate and
// Basic.
func (x *exchange) unauthorized() {
	x.h.stats.authFailures.Add(1)
	if x.h.hp.domain {
		x.respond(http.StatusUnauthorized, "", []string{"WWW-Authenticate", "Negotiate", "WWW-Authenticate", "Kerberos"}, nil)
		return
	}
	x.respond(http.StatusUnauthorized, "", []string{"WWW-Authenticate", "Negotiate", "WWW-Authenticate", `Basic realm="WSMAN"`}, nil)
}

// pause waits d unless the fleet closes first.
func (f *Fleet) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-f.done:
		return false
	}
}

// exchange is one request to one host and its reply.
type exchange struct {
	f   *Fleet
	h   *host
	sc  *serverConn
	hr  *httpRequest
	req *request

	gone       <-chan struct{} // closed when the client left; nil until watched
	stop       func()          // ends the watch
	clientLeft bool            // the handler gave up because the client left

	// Message encryption (secauth.go): the request came sealed with this
	// context, so the reply is sealed too; authHeader is the mutual
	// authentication token of a handshake that ended with this request.
	sealWith   *connAuth
	sealProto  string
	authHeader []string
}

// clientGone starts watching the connection (once) and returns a channel
// closed when the client leaves. Only handlers that wait long use it:
// the watch costs a goroutine and a read.
func (x *exchange) clientGone() <-chan struct{} {
	if x.stop == nil {
		x.gone, x.stop = x.sc.watch()
	}
	return x.gone
}

func (x *exchange) stopWatch() {
	if x.stop != nil {
		x.stop()
	}
}

// respond writes a whole response: sealed when the request was, with
// the handshake's mutual authentication token when it ended now.
func (x *exchange) respond(status int, contentType string, extra []string, body []byte) {
	if x.sealWith != nil && len(body) > 0 {
		sealed, err := sealBody(x.sealWith, x.sealProto, body)
		if err != nil {
			x.f.logf("winrmsim: %s: seal the reply: %v", x.h.name, err)
			x.sc.writeResponse(http.StatusInternalServerError, "", nil, nil, true)
			return
		}
		body = sealed
		contentType = `multipart/encrypted;protocol="` + x.sealProto + `";boundary="Encrypted Boundary"`
	}
	if x.authHeader != nil {
		extra = append(append([]string(nil), extra...), x.authHeader...)
		x.authHeader = nil
	}
	x.sc.writeResponse(status, contentType, extra, body, x.hr.closeAfter)
}

func (x *exchange) messageID() string {
	if x.req == nil {
		return ""
	}
	return strings.TrimSpace(x.req.Header.MessageID)
}

// reply writes a 200 response: the envelope, its header and body.
func (x *exchange) reply(action string, body func(b *bytes.Buffer)) {
	b := x.f.bufs.reply()
	b.WriteString(envReply)
	writeHeader(b, action, x.messageID())
	b.WriteString(`<s:Body>`)
	body(b)
	b.WriteString(`</s:Body>`)
	b.WriteString(envClose)
	x.write(http.StatusOK, b.Bytes())
	x.f.bufs.putReply(b)
}

// fail writes a SOAP fault.
func (x *exchange) fail(ft *fault) {
	x.h.stats.faults.Add(1)
	if ft.wsman != CodeTimedOut {
		x.f.logf("winrmsim: %s: fault %d (%s)", x.h.name, ft.wsman, ft.subcode)
	}
	var b bytes.Buffer
	b.Grow(1536)
	writeFault(&b, ft, x.messageID(), x.h.name)
	x.write(ft.status, b.Bytes())
}

func (x *exchange) write(status int, body []byte) {
	x.respond(status, soapContentType, nil, body)
}

// identify answers wsmid:Identify; only an authenticated caller learns
// the OS version.
func (x *exchange) identify(authed bool) {
	version := "0.0.0"
	if authed {
		version = x.h.release.version
	}
	stack := "3.0"
	if x.h.hp.legacy {
		stack = "2.0"
	}
	var b bytes.Buffer
	identifyBody(&b, version, stack)
	x.write(http.StatusOK, b.Bytes())
}

// envelopeLimit is the largest request the host takes (MaxEnvelopeSizekb).
func (f *Fleet) envelopeLimit(h *host) int {
	if h.hp.legacy {
		return min(LegacyMaxEnvelopeSize, f.cfg.MaxEnvelopeSize)
	}
	return f.cfg.MaxEnvelopeSize
}

// operationsLimit is how many Commands one shell of the host may run.
func (f *Fleet) operationsLimit(h *host) int {
	if h.hp.legacy {
		return min(LegacyMaxOperationsPerShell, f.cfg.MaxOperationsPerShell)
	}
	return f.cfg.MaxOperationsPerShell
}

// wmiFaults reports a host that words its quota faults as WMI does
// (MSFT_WmiError): every host with WinRM 2.0 limits, and about a quarter
// of the others, by seed.
func (h *host) wmiFaults() bool { return h.hp.legacy || h.seed>>40&3 == 0 }

// lookupShell resolves the request's ShellId selector.
func (x *exchange) lookupShell() (*shell, *fault) {
	if uri := strings.TrimSpace(x.req.Header.ResourceURI); uri != resourceCmd {
		return nil, faultResourceURI(uri)
	}
	id := x.req.selector("ShellId")
	if id == "" {
		return nil, faultMissingSelectors()
	}
	x.h.mu.Lock()
	s := x.h.lookupShellLocked(id, time.Now(), x.f.cfg.ShellIdleTimeout)
	x.h.mu.Unlock()
	if s == nil {
		return nil, faultShellNotFound(id)
	}
	return s, nil
}

// lookupCommand finds a command of a shell.
func (x *exchange) lookupCommand(s *shell, id string) (*command, *fault) {
	id = strings.TrimSpace(id)
	if id == "" {
		return nil, faultMissingSelectors()
	}
	x.h.mu.Lock()
	c := s.commands[id]
	x.h.mu.Unlock()
	if c == nil {
		return nil, faultCommandNotFound()
	}
	return c, nil
}

// create is transfer/Create of a cmd shell.
func (x *exchange) create() {
	req := x.req
	if uri := strings.TrimSpace(req.Header.ResourceURI); uri != resourceCmd {
		x.fail(faultResourceURI(uri))
		return
	}
	if req.Body.Shell == nil {
		x.fail(faultSchema(http.StatusInternalServerError, "The Windows Remote Shell cannot process the request. The SOAP packet does not contain a Shell element. "))
		return
	}
	codepage := 437 // the OEM code page of an en-US host
	if v, ok := req.option("WINRS_CODEPAGE"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			x.fail(faultSchema(http.StatusInternalServerError, "The Windows Remote Shell cannot process the request. The WINRS_CODEPAGE option value "+v+" is not valid. "))
			return
		}
		codepage = n
	}
	clientIP, _, _ := net.SplitHostPort(x.sc.remote)
	now := time.Now()
	s := &shell{
		id:        newGUID(),
		owner:     x.f.cfg.User,
		clientIP:  clientIP,
		codepage:  codepage,
		noProfile: req.boolOption("WINRS_NOPROFILE", false),
		created:   now,
		lastUsed:  now,
		commands:  make(map[string]*command),
	}
	h := x.h
	h.mu.Lock()
	h.expireShellsLocked(now, x.f.cfg.ShellIdleTimeout)
	// Every caller authenticates as the one configured user, so all of a
	// host's shells count against that user's quota.
	if len(h.shells) >= x.f.cfg.MaxShellsPerUser {
		h.mu.Unlock()
		ft := faultShellQuota(x.f.cfg.MaxShellsPerUser)
		ft.wmi = h.wmiFaults()
		x.fail(ft)
		return
	}
	if h.shells == nil {
		h.shells = make(map[string]*shell)
	}
	h.shells[s.id] = s
	h.mu.Unlock()
	h.stats.shellsCreated.Add(1)
	h.stats.shellsOpen.Add(1)

	x.reply("http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", func(b *bytes.Buffer) {
		b.WriteString(`<x:ResourceCreated><a:Address>http://`)
		escape(b, x.hr.host)
		b.WriteString(`/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>`)
		b.WriteString(resourceCmd)
		b.WriteString(`</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">`)
		b.WriteString(s.id)
		b.WriteString(`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`)
		if h.hp.legacy {
			return // WinRM 2.0: the selector is all the reply says
		}
		b.WriteString(`<rsp:Shell xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><rsp:ShellId>`)
		b.WriteString(s.id)
		b.WriteString(`</rsp:ShellId><rsp:ResourceUri>`)
		b.WriteString(resourceCmd)
		b.WriteString(`</rsp:ResourceUri><rsp:Owner>`)
		escape(b, s.owner)
		b.WriteString(`</rsp:Owner><rsp:ClientIP>`)
		escape(b, s.clientIP)
		b.WriteString(`</rsp:ClientIP><rsp:IdleTimeOut>`)
		b.WriteString(formatDuration(max(x.f.cfg.ShellIdleTimeout, 0)))
		b.WriteString(`</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>`)
		b.WriteString(`<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`)
	})
}

// command is shell/Command: start a process in the shell.
func (x *exchange) command() {
	s, ft := x.lookupShell()
	if ft != nil {
		x.fail(ft)
		return
	}
	cl := x.req.Body.CommandLine
	if cl == nil || strings.TrimSpace(cl.Command) == "" {
		x.fail(faultSchema(http.StatusInternalServerError, "The Windows Remote Shell cannot process the request. The SOAP packet does not contain a Command element. "))
		return
	}
	// winrs joins Command and Arguments with spaces into one command line.
	line := strings.TrimSpace(cl.Command)
	for _, a := range cl.Arguments {
		line += " " + a
	}
	c := newCommand(newGUID(), line)
	c.consoleModeStdin = x.req.boolOption("WINRS_CONSOLEMODE_STDIN", false)
	c.skipCmdShell = x.req.boolOption("WINRS_SKIP_CMD_SHELL", false)

	h := x.h
	h.mu.Lock()
	// Every Command counts against MaxConcurrentOperationsPerUser until
	// the shell is deleted; a Signal does not give it back.
	if limit := x.f.operationsLimit(h); s.operations >= limit {
		h.mu.Unlock()
		ft := faultOperationsQuota(limit)
		ft.wmi = h.wmiFaults()
		x.fail(ft)
		return
	}
	s.operations++
	m := &machine{h: h, fleet: x.f, user: x.f.cfg.User, codepage: s.codepage, noProf: s.noProfile, lastBoot: h.lastBoot}
	h.mu.Unlock()
	proc, ft := newProcess(m, line, c.skipCmdShell)
	if ft != nil {
		x.fail(ft)
		return
	}
	c.proc, c.m = proc, m
	c.mu.Lock()
	proc.Start(&procIO{c: c, now: time.Now(), m: m})
	c.mu.Unlock()

	h.mu.Lock()
	if h.shells[s.id] != s {
		// Deleted while the command was being set up.
		h.mu.Unlock()
		x.fail(faultShellNotFound(s.id))
		return
	}
	s.commands[c.id] = c
	h.mu.Unlock()
	h.stats.commands.Add(1)

	x.reply("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse", func(b *bytes.Buffer) {
		b.WriteString(`<rsp:CommandResponse><rsp:CommandId>`)
		b.WriteString(c.id)
		b.WriteString(`</rsp:CommandId></rsp:CommandResponse>`)
	})
}

// send is shell/Send: bytes for a command's stdin.
func (x *exchange) send() {
	s, ft := x.lookupShell()
	if ft != nil {
		x.fail(ft)
		return
	}
	if x.req.Body.Send == nil || len(x.req.Body.Send.Streams) == 0 {
		x.fail(faultSchema(http.StatusInternalServerError, "The Windows Remote Shell cannot process the request. The SOAP packet does not contain a Stream element. "))
		return
	}
	for _, st := range x.req.Body.Send.Streams {
		if st.Name != "stdin" {
			x.fail(faultSchema(http.StatusInternalServerError, "The Windows Remote Shell cannot process the request. The input stream "+st.Name+" is not valid for this shell. "))
			return
		}
		c, ft := x.lookupCommand(s, st.CommandID)
		if ft != nil {
			x.fail(ft)
			return
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(st.Value))
		if err != nil {
			x.fail(faultSchema(http.StatusInternalServerError, "The Windows Remote Shell cannot process the request. The stdin stream is not valid base64. "))
			return
		}
		c.stdin(time.Now(), data, strings.EqualFold(st.End, "true"))
	}
	x.reply("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SendResponse", func(b *bytes.Buffer) {
		b.WriteString(`<rsp:SendResponse></rsp:SendResponse>`)
	})
}

// stdin hands input to the process; input after end of input is dropped.
func (c *command) stdin(now time.Time, data []byte, eof bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || c.stdinEOF {
		return
	}
	c.stdinEOF = eof
	c.proc.Stdin(&procIO{c: c, now: now, m: c.m}, data, eof)
	c.notifyLocked()
}

// receive is shell/Receive: output so far, long-polling until there is
// some, the command ends, or w:OperationTimeout (capped) passes.
func (x *exchange) receive() {
	s, ft := x.lookupShell()
	if ft != nil {
		x.fail(ft)
		return
	}
	rcv := x.req.Body.Receive
	if rcv == nil {
		x.fail(faultSchema(http.StatusInternalServerError, "The Windows Remote Shell cannot process the request. The SOAP packet does not contain a Receive element. "))
		return
	}
	c, ft := x.lookupCommand(s, rcv.DesiredStream.CommandID)
	if ft != nil {
		x.fail(ft)
		return
	}
	want := [2]bool{true, true}
	if names := strings.Fields(rcv.DesiredStream.Value); len(names) > 0 {
		want = [2]bool{}
		for _, n := range names {
			switch n {
			case "stdout":
				want[streamStdout] = true
			case "stderr":
				want[streamStderr] = true
			}
		}
	}
	timeout, ok := parseDuration(x.req.Header.OperationTimeout)
	if !ok {
		timeout = DefaultOperationTimeoutMax
	}
	timeout = min(timeout, x.f.cfg.OperationTimeoutMax)
	// Base64 grows output by a third; leave room for the envelope.
	limit := max((x.req.maxEnvelope()-2048)*3/4, 512)

	deadline := time.Now().Add(timeout)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		now := time.Now()
		got := c.take(now, limit, want)
		if got.gone {
			x.fail(faultAborted())
			return
		}
		if len(got.chunks) > 0 || got.done {
			x.replyReceive(c.id, got)
			return
		}
		wait := deadline.Sub(now)
		if wait <= 0 {
			x.fail(faultTimedOut())
			return
		}
		if !got.next.IsZero() && got.next.Sub(now) < wait {
			wait = max(got.next.Sub(now), 0)
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		// A long wait watches for the client leaving (it gave up the
		// long-poll); a short one just finishes, as writing to a closed
		// connection is harmless.
		var gone <-chan struct{}
		if wait > watchAfter {
			gone = x.clientGone()
		}
		select {
		case <-got.wake:
		case <-timer.C:
		case <-gone:
			x.clientLeft = true
			return
		case <-x.f.done:
			return
		}
	}
}

func (x *exchange) replyReceive(id string, got received) {
	x.reply("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse", func(b *bytes.Buffer) {
		b.WriteString(`<rsp:ReceiveResponse>`)
		// Adjacent chunks of one stream go out as one element.
		for i := 0; i < len(got.chunks); {
			j := i + 1
			n := len(got.chunks[i].data)
			for j < len(got.chunks) && got.chunks[j].stream == got.chunks[i].stream {
				n += len(got.chunks[j].data)
				j++
			}
			data := got.chunks[i].data
			if j > i+1 {
				data = make([]byte, 0, n)
				for _, ch := range got.chunks[i:j] {
					data = append(data, ch.data...)
				}
			}
			b.WriteString(`<rsp:Stream Name="`)
			b.WriteString(streamNames[got.chunks[i].stream])
			b.WriteString(`" CommandId="`)
			b.WriteString(id)
			b.WriteString(`">`)
			b.Write(base64.StdEncoding.AppendEncode(b.AvailableBuffer(), data))
			b.WriteString(`</rsp:Stream>`)
			i = j
		}
		if got.done {
			for _, name := range streamNames {
				b.WriteString(`<rsp:Stream Name="`)
				b.WriteString(name)
				b.WriteString(`" CommandId="`)
				b.WriteString(id)
				b.WriteString(`" End="true"></rsp:Stream>`)
			}
			b.WriteString(`<rsp:CommandState CommandId="`)
			b.WriteString(id)
			b.WriteString(`" State="` + stateDone + `"><rsp:ExitCode>`)
			b.WriteString(strconv.Itoa(got.exitCode))
			b.WriteString(`</rsp:ExitCode></rsp:CommandState>`)
		} else {
			b.WriteString(`<rsp:CommandState CommandId="`)
			b.WriteString(id)
			b.WriteString(`" State="` + stateRunning + `"></rsp:CommandState>`)
		}
		b.WriteString(`</rsp:ReceiveResponse>`)
	})
}

// signal is shell/Signal: terminate ends and forgets a command, ctrl_c and
// ctrl_break interrupt its process.
func (x *exchange) signal() {
	s, ft := x.lookupShell()
	if ft != nil {
		x.fail(ft)
		return
	}
	sig := x.req.Body.Signal
	if sig == nil {
		x.fail(faultSchema(http.StatusInternalServerError, "The Windows Remote Shell cannot process the request. The SOAP packet does not contain a Signal element. "))
		return
	}
	c, ft := x.lookupCommand(s, sig.CommandID)
	if ft != nil {
		x.fail(ft)
		return
	}
	switch code := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(sig.Code), signalPrefix)); code {
	case "terminate":
		x.h.mu.Lock()
		delete(s.commands, c.id)
		x.h.mu.Unlock()
		c.abort()
	case "ctrl_c", "ctrl_break":
		c.mu.Lock()
		c.proc.Signal(&procIO{c: c, now: time.Now(), m: c.m}, code)
		c.notifyLocked()
		c.mu.Unlock()
	default:
		x.fail(faultSchema(http.StatusInternalServerError, "The Windows Remote Shell cannot process the request. The signal code "+sig.Code+" is not valid. "))
		return
	}
	x.reply("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SignalResponse", func(b *bytes.Buffer) {
		b.WriteString(`<rsp:SignalResponse></rsp:SignalResponse>`)
	})
}

// delete is transfer/Delete: the shell and its commands are gone.
func (x *exchange) delete() {
	if uri := strings.TrimSpace(x.req.Header.ResourceURI); uri != resourceCmd {
		x.fail(faultResourceURI(uri))
		return
	}
	id := x.req.selector("ShellId")
	if id == "" {
		x.fail(faultMissingSelectors())
		return
	}
	h := x.h
	h.mu.Lock()
	s := h.lookupShellLocked(id, time.Now(), x.f.cfg.ShellIdleTimeout)
	if s != nil {
		h.removeShellLocked(s)
	}
	h.mu.Unlock()
	if s == nil {
		x.fail(faultShellNotFound(id))
		return
	}
	h.stats.shellsDeleted.Add(1)
	x.reply("http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", func(*bytes.Buffer) {})
}
