package winrmsim

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// enumerate.go: WS-Enumeration of a host's shells, as Windows 7 / Server
// 2008 R2 and later answer it (MS-WSMV 3.1.4.8.2 and 3.1.4.9.2):
//
//   - Enumerate on .../windows/shell lists the shells (every kind); on
//     .../windows/shell/cmd it is an ActionNotSupported fault (note 114);
//     a wsman:Filter or wsen:Filter is a FilteringNotSupported fault.
//   - With wsman:OptimizeEnumeration, the EnumerateResponse carries up to
//     wsman:MaxElements items (default 1) in w:Items, then w:EndOfSequence
//     when that was all, else an EnumerationContext to Pull the rest from;
//     without it, only the context. Items also stop where the reply would
//     pass the client's MaxEnvelopeSize.
//   - Pull takes up to wsen:MaxElements (default 1) more; a context that
//     ended, expired or never existed is an InvalidEnumerationContext
//     fault.
//
// Each item is an rsp:Shell with the fields Windows lists (a 2016 reply
// recorded by pypsrp's tests was the model): the owner as HOST\user (the
// Create reply names a local account without the host), the client's
// address, run time and inactivity. The simulator has one user, so every
// caller sees every shell, as an administrator does on Windows.

// Enumeration fault codes.
const (
	// CodeFilteringNotSupported is ERROR_WSMAN_ENUMERATE_FILTERING_NOT_SUPPORTED (0x80338018).
	CodeFilteringNotSupported = 2150858776
	// CodeInvalidEnumerationContext is ERROR_WSMAN_ENUMERATE_INVALID_ENUMERATION_CONTEXT (0x8033801B).
	CodeInvalidEnumerationContext = 2150858779
)

// enumExpiry is how long an unfinished enumeration lives without a Pull
// (Windows collects them; MS-WSMV 3.1.5.1).
const enumExpiry = 10 * time.Minute

// maxOpenEnums bounds the unfinished enumerations a host keeps.
const maxOpenEnums = 64

// shellItem is one shell as an enumeration lists it, taken when the
// enumeration started.
type shellItem struct {
	id, owner, clientIP string
	profile             bool
	created, lastUsed   time.Time
}

// shellEnum is an enumeration in progress: the items not pulled yet.
type shellEnum struct {
	items   []shellItem
	expires time.Time
}

func faultFilteringNotSupported() *fault {
	msg := "The data source does not support filtering. Remove the filter from the request and try the request again. "
	return &fault{status: http.StatusInternalServerError, code: "s:Sender", subcode: "n:FilteringNotSupported", reason: msg,
		wsman: CodeFilteringNotSupported, message: msg}
}

func faultInvalidEnumerationContext() *fault {
	msg := "The WS-Enumeration context in the enumeration is not valid. Enumeration may have been completed or canceled. " +
		"You cannot use this enumeration context anymore. Start a new enumeration. "
	return &fault{status: http.StatusInternalServerError, code: "s:Receiver", subcode: "n:InvalidEnumerationContext", reason: msg,
		wsman: CodeInvalidEnumerationContext, message: msg}
}

// maxElements reads a MaxElements value; absent means 1 (WS-Management).
func maxElements(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 1, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 1
}

// enumerate is enumeration/Enumerate.
func (x *exchange) enumerate() {
	uri := strings.TrimSpace(x.req.Header.ResourceURI)
	if uri != resourceShells {
		// .../shell/cmd as Windows 7 and later answer it; other resources
		// (WMI classes) the simulator does not serve.
		x.fail(faultActionNotSupported(actionEnum))
		return
	}
	body := x.req.Body.Enumerate
	if body == nil {
		x.fail(faultSchema(http.StatusInternalServerError, "The WS-Management service cannot process the request. The SOAP packet does not contain an Enumerate element. "))
		return
	}
	if body.Filter != nil || body.EnumFilter != nil {
		x.fail(faultFilteringNotSupported())
		return
	}
	most, ok := maxElements(body.MaxElements)
	if !ok {
		x.fail(faultSchema(http.StatusInternalServerError, "The WS-Management service cannot process the request. The MaxElements value "+body.MaxElements+" is not valid. "))
		return
	}
	h := x.h
	now := time.Now()
	h.mu.Lock()
	h.expireShellsLocked(now, x.f.cfg.ShellIdleTimeout)
	items := make([]shellItem, 0, len(h.shells))
	for _, s := range h.shells {
		items = append(items, shellItem{id: s.id, owner: h.name + `\` + s.owner, clientIP: s.clientIP, profile: !s.noProfile,
			created: s.created, lastUsed: s.lastUsed})
	}
	h.mu.Unlock()
	slices.SortFunc(items, func(a, b shellItem) int { return a.created.Compare(b.created) })

	var page []byte
	if body.Optimize != nil {
		page, items = x.itemPage(items, most, now)
	}
	ctxID := ""
	if len(items) > 0 {
		ctxID = x.h.openEnum(items, now)
	}
	x.reply("http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse", func(b *bytes.Buffer) {
		b.WriteString(`<n:EnumerateResponse xmlns:n="` + nsEnum + `"><n:EnumerationContext>`)
		if ctxID != "" {
			b.WriteString("uuid:" + ctxID)
		}
		b.WriteString(`</n:EnumerationContext>`)
		if body.Optimize != nil {
			b.WriteString(`<w:Items>`)
			b.Write(page)
			b.WriteString(`</w:Items>`)
			if ctxID == "" {
				b.WriteString(`<w:EndOfSequence/>`)
			}
		}
		b.WriteString(`</n:EnumerateResponse>`)
	})
}

// pull is enumeration/Pull.
func (x *exchange) pull() {
	if uri := strings.TrimSpace(x.req.Header.ResourceURI); uri != resourceShells {
		x.fail(faultActionNotSupported(actionPull))
		return
	}
	body := x.req.Body.Pull
	if body == nil {
		x.fail(faultSchema(http.StatusInternalServerError, "The WS-Management service cannot process the request. The SOAP packet does not contain a Pull element. "))
		return
	}
	most, ok := maxElements(body.MaxElements)
	if !ok {
		x.fail(faultSchema(http.StatusInternalServerError, "The WS-Management service cannot process the request. The MaxElements value "+body.MaxElements+" is not valid. "))
		return
	}
	id := strings.TrimPrefix(strings.TrimSpace(body.EnumerationContext), "uuid:")
	now := time.Now()
	h := x.h
	h.mu.Lock()
	en, found := h.enums[id]
	if found && now.After(en.expires) {
		delete(h.enums, id)
		found = false
	}
	var items []shellItem
	if found {
		items = en.items
		delete(h.enums, id)
	}
	h.mu.Unlock()
	if !found {
		x.fail(faultInvalidEnumerationContext())
		return
	}
	page, rest := x.itemPage(items, most, now)
	ctxID := ""
	if len(rest) > 0 {
		ctxID = h.openEnum(rest, now)
	}
	x.reply("http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse", func(b *bytes.Buffer) {
		b.WriteString(`<n:PullResponse xmlns:n="` + nsEnum + `">`)
		if ctxID != "" {
			b.WriteString(`<n:EnumerationContext>uuid:` + ctxID + `</n:EnumerationContext>`)
		}
		b.WriteString(`<n:Items>`)
		b.Write(page)
		b.WriteString(`</n:Items>`)
		if ctxID == "" {
			b.WriteString(`<n:EndOfSequence/>`)
		}
		b.WriteString(`</n:PullResponse>`)
	})
}

// openEnum keeps items for later Pulls and returns the context's id.
func (h *host) openEnum(items []shellItem, now time.Time) string {
	id := newGUID()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.enums == nil {
		h.enums = map[string]*shellEnum{}
	}
	for k, e := range h.enums {
		if now.After(e.expires) || len(h.enums) >= maxOpenEnums {
			delete(h.enums, k)
		}
	}
	h.enums[id] = &shellEnum{items: items, expires: now.Add(enumExpiry)}
	return id
}

// itemPage writes up to max items as rsp:Shell elements, stopping early
// where the reply would pass the client's MaxEnvelopeSize (but always
// writing one), and returns them and the items left.
func (x *exchange) itemPage(items []shellItem, most int, now time.Time) ([]byte, []shellItem) {
	limit := x.req.maxEnvelope() - 2048 // the envelope around the items
	var b bytes.Buffer
	n := 0
	for n < len(items) && n < most {
		var one bytes.Buffer
		x.writeShellItem(&one, items[n], now)
		if n > 0 && b.Len()+one.Len() > limit {
			break
		}
		b.Write(one.Bytes())
		n++
	}
	return b.Bytes(), items[n:]
}

// writeShellItem writes one rsp:Shell of an enumeration.
func (x *exchange) writeShellItem(b *bytes.Buffer, s shellItem, now time.Time) {
	b.WriteString(`<rsp:Shell xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><rsp:ShellId>`)
	b.WriteString(s.id)
	b.WriteString(`</rsp:ShellId><rsp:ResourceUri>` + resourceCmd + `</rsp:ResourceUri><rsp:Owner>`)
	escape(b, s.owner)
	b.WriteString(`</rsp:Owner><rsp:ClientIP>`)
	escape(b, s.clientIP)
	b.WriteString(`</rsp:ClientIP><rsp:ProcessId>`)
	b.WriteString(strconv.Itoa(pseudoPID(s.id)))
	b.WriteString(`</rsp:ProcessId><rsp:IdleTimeOut>`)
	b.WriteString(formatDuration(max(x.f.cfg.ShellIdleTimeout, 0)))
	b.WriteString(`</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>` +
		`<rsp:MaxIdleTimeOut>PT2147483.647S</rsp:MaxIdleTimeOut><rsp:Locale>en-US</rsp:Locale><rsp:DataLocale>en-US</rsp:DataLocale>` +
		`<rsp:CompressionMode>NoCompression</rsp:CompressionMode><rsp:ProfileLoaded>`)
	if s.profile {
		b.WriteString("Yes")
	} else {
		b.WriteString("No")
	}
	b.WriteString(`</rsp:ProfileLoaded><rsp:Encoding>UTF8</rsp:Encoding><rsp:BufferMode>Block</rsp:BufferMode><rsp:State>Connected</rsp:State><rsp:ShellRunTime>`)
	b.WriteString(formatDHMS(now.Sub(s.created)))
	b.WriteString(`</rsp:ShellRunTime><rsp:ShellInactivity>`)
	b.WriteString(formatDHMS(now.Sub(s.lastUsed)))
	b.WriteString(`</rsp:ShellInactivity><rsp:MemoryUsed>12MB</rsp:MemoryUsed><rsp:ChildProcesses>0</rsp:ChildProcesses></rsp:Shell>`)
}

// formatDHMS writes a duration the way WinRM lists shell times:
// P0DT0H1M9S, whole seconds.
func formatDHMS(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	return fmt.Sprintf("P%dDT%dH%dM%dS", s/86400, s%86400/3600, s%3600/60, s%60)
}

// pseudoPID is a stable made-up process id for a shell's host process.
func pseudoPID(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return 1000 + int(h.Sum32()%60000)
}
