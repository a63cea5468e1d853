package winrmsim

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// actionBody builds an action script the way the engine does:
// marker (version 2), the $RmmParams hashtable of single-quoted strings,
// script rest.
func actionBody(name string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("# rmm:script=" + name + " v2\n$RmmParams = @{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(";")
		}
		b.WriteString(" '" + strings.ReplaceAll(k, "'", "''") + "' = '" + strings.ReplaceAll(params[k], "'", "''") + "'")
	}
	b.WriteString(" }\n$ErrorActionPreference = 'Stop'\n$result = @{ ok = $true; message = ''; data = $null }\n")
	return b.String()
}

// actionBodyV1 builds an action script the way rmm did before version 2:
// its parameters decoded with .NET calls, ending in exit 0 or exit 1.
func actionBodyV1(name string, params map[string]string) string {
	if params == nil {
		params = map[string]string{}
	}
	doc, _ := json.Marshal(params)
	return "# rmm:script=" + name + " v1\n" +
		"$RmmParams = ConvertFrom-Json ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('" + base64.StdEncoding.EncodeToString(doc) + "')))\n" +
		"$ErrorActionPreference = 'Stop'\n$result = @{ ok = $true; message = ''; data = $null }\n"
}

// actionDoc is an action script's one JSON document.
type actionDoc struct {
	OK      bool            `json:"ok"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// act runs one action (version 2) through the resident loop and parses
// its answer: the document says how it went, the script ran to its end.
func (s *loopSession) act(name string, params map[string]string) actionDoc {
	s.t.Helper()
	return s.actScript(name, actionBody(name, params), 0)
}

// actV1 runs a version 1 action script: its exit code says what ok says.
func (s *loopSession) actV1(name string, params map[string]string) actionDoc {
	s.t.Helper()
	return s.actScript(name, actionBodyV1(name, params), -1)
}

func (s *loopSession) actScript(name, script string, exit int) actionDoc {
	s.t.Helper()
	id := "a" + strconv.FormatInt(time.Now().UnixNano(), 36)
	s.request(id, script)
	ans := s.answer(id)
	var doc actionDoc
	if err := json.Unmarshal([]byte(strings.TrimSpace(ans.Output)), &doc); err != nil {
		s.t.Fatalf("%s: output is not one JSON document: %v: %q (errors %q)", name, err, ans.Output, ans.Errors)
	}
	if exit < 0 {
		exit = map[bool]int{true: 0, false: 1}[doc.OK]
	}
	if ans.Exit != exit {
		s.t.Fatalf("%s: ok %v but exit %d, want %d", name, doc.OK, ans.Exit, exit)
	}
	return doc
}

// mustOK runs an action that has to succeed and decodes its data.
func (s *loopSession) mustOK(name string, params map[string]string, data any) actionDoc {
	s.t.Helper()
	doc := s.act(name, params)
	if !doc.OK {
		s.t.Fatalf("%s %v: ok false: %s", name, params, doc.Message)
	}
	if data != nil {
		if err := json.Unmarshal(doc.Data, data); err != nil {
			s.t.Fatalf("%s: data: %v: %s", name, err, doc.Data)
		}
	}
	return doc
}

// mustFail runs an action that has to fail with a message containing want.
func (s *loopSession) mustFail(name string, params map[string]string, want string) {
	s.t.Helper()
	doc := s.act(name, params)
	if doc.OK || !strings.Contains(doc.Message, want) {
		s.t.Fatalf("%s %v: got ok %v %q, want failure %q", name, params, doc.OK, doc.Message, want)
	}
}

type servicesData struct {
	Services []serviceJSON `json:"services"`
}

type processesData struct {
	Processes []processJSON `json:"processes"`
}

type hostStateData struct {
	RDP      bool     `json:"rdp_enabled"`
	LastBoot string   `json:"last_boot"`
	Files    []string `json:"files"`
	Registry int      `json:"registry_count"`
	Sessions int      `json:"sessions"`
	Pending  string   `json:"pending_reboot"`
}

func (s *loopSession) service(name string) serviceJSON {
	s.t.Helper()
	var d servicesData
	s.mustOK("action_list_services", nil, &d)
	for _, sv := range d.Services {
		if sv.Name == name {
			return sv
		}
	}
	s.t.Fatalf("no service %s among %d", name, len(d.Services))
	return serviceJSON{}
}

func (s *loopSession) processes(name string) []int {
	s.t.Helper()
	var d processesData
	s.mustOK("action_list_processes", nil, &d)
	var pids []int
	for _, p := range d.Processes {
		if strings.EqualFold(p.Name, name) {
			pids = append(pids, p.PID)
		}
	}
	return pids
}

func (s *loopSession) state() hostStateData {
	s.t.Helper()
	var d hostStateData
	s.mustOK("action_host_state", nil, &d)
	return d
}

func TestActionServiceControlChangesServiceState(t *testing.T) {
	f := startFleet(t, Config{Devices: 3, Seed: 5})
	s := startLoop(t, f, 0)
	s.until("READY")
	if got := s.service("Spooler"); got.State != "Running" || got.StartType != "Automatic" || got.DisplayName != "Print Spooler" {
		// Seeded hosts may have a stopped Spooler; start it first.
		s.mustOK("action_service_control", map[string]string{"name": "Spooler", "op": "start"}, nil)
	}
	if len(s.processes("spoolsv")) != 1 {
		t.Fatalf("running Spooler has no spoolsv process")
	}

	var d struct{ Name, State string }
	doc := s.mustOK("action_service_control", map[string]string{"name": "spooler", "op": "stop"}, &d)
	if doc.Message != "Spooler stopped" || d.Name != "Spooler" || d.State != "Stopped" {
		t.Fatalf("stop: %q %+v", doc.Message, d)
	}
	if got := s.service("Spooler").State; got != "Stopped" {
		t.Fatalf("list_services after stop: Spooler %s", got)
	}
	if len(s.processes("spoolsv")) != 0 {
		t.Fatalf("spoolsv still runs after Spooler stopped")
	}
	if got := f.hosts[0].services(); got[slices.IndexFunc(got, func(s ServiceInfo) bool { return s.Name == "Spooler" })].State != "Stopped" {
		t.Fatalf("services() does not see the stop")
	}
	doc = s.mustOK("action_service_control", map[string]string{"name": "Spooler", "op": "restart"}, &d)
	if doc.Message != "Spooler restarted" || d.State != "Running" || s.service("Spooler").State != "Running" {
		t.Fatalf("restart: %q %+v", doc.Message, d)
	}
	doc = s.mustOK("action_service_control", map[string]string{"name": "Spooler", "op": "start"}, &d)
	if doc.Message != "Spooler started" {
		t.Fatalf("start: %q", doc.Message)
	}

	s.mustFail("action_service_control", map[string]string{"name": "NoSuchSvc", "op": "stop"}, "Cannot find any service with service name 'NoSuchSvc'.")
	s.mustFail("action_service_control", map[string]string{"name": "Spooler", "op": "pause"}, "op 'pause' is not one of start, stop, restart")
	s.mustFail("action_service_control", map[string]string{"name": "RpcSs", "op": "stop"}, "cannot be stopped")
	s.mustFail("action_service_control", map[string]string{"name": "RemoteAccess", "op": "start"}, "cannot be started")
	// Another host is untouched.
	s2 := startLoop(t, f, 1)
	s2.until("READY")
	if got := s2.service("RpcSs").State; got != "Running" {
		t.Fatalf("RpcSs on host 1: %s", got)
	}
}

func TestActionProcessKill(t *testing.T) {
	f := startFleet(t, Config{Devices: 2, Seed: 8})
	s := startLoop(t, f, 0)
	s.until("READY")
	svchosts := s.processes("svchost")
	if len(svchosts) < 40 {
		t.Fatalf("%d svchost processes, want a Windows-like count", len(svchosts))
	}
	s.mustOK("action_service_control", map[string]string{"name": "Spooler", "op": "start"}, nil)
	spool := s.processes("spoolsv")
	if len(spool) != 1 {
		t.Fatalf("spoolsv: %v", spool)
	}
	var d struct {
		Stopped int   `json:"stopped"`
		PIDs    []int `json:"pids"`
	}
	doc := s.mustOK("action_process_kill", map[string]string{"pid": strconv.Itoa(spool[0])}, &d)
	if doc.Message != "Stopped 1 process(es)" || d.Stopped != 1 || d.PIDs[0] != spool[0] {
		t.Fatalf("kill by pid: %q %+v", doc.Message, d)
	}
	if len(s.processes("spoolsv")) != 0 || s.service("Spooler").State != "Stopped" {
		t.Fatalf("killing spoolsv left it running or Spooler not stopped")
	}
	// By name, every instance, with or without .exe.
	edges := s.processes("WmiPrvSE")
	doc = s.mustOK("action_process_kill", map[string]string{"name": "wmiprvse.exe"}, &d)
	if d.Stopped != len(edges) || len(s.processes("WmiPrvSE")) != 0 {
		t.Fatalf("kill by name: %q, had %d", doc.Message, len(edges))
	}
	s.mustFail("action_process_kill", map[string]string{"name": "nosuch"}, `Cannot find a process with the name "nosuch".`)
	s.mustFail("action_process_kill", map[string]string{"pid": "3"}, "Cannot find a process with the process identifier 3.")
	s.mustFail("action_process_kill", map[string]string{"name": "csrss"}, "Access is denied")
	if got := len(s.processes("csrss")); got != 2 {
		t.Fatalf("csrss count after a denied kill: %d", got)
	}
}

// dialable reports whether the host's port accepts a connection.
func dialable(h HostInfo) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(h.IP, strconv.Itoa(h.Port)), time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// waitFor polls cond (every 20ms, for at most a minute).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 3000; i++ {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for: %s", what)
}

func TestActionRebootTakesHostDownAndBackWithNewBoot(t *testing.T) {
	f := startFleet(t, Config{Devices: 2, Seed: 3, RebootDowntime: 300 * time.Millisecond})
	hi := f.Hosts()[0]
	s := startLoop(t, f, 0)
	s.until("READY")
	before := s.state()
	// State that a reboot changes or keeps.
	s.mustOK("action_registry_set", map[string]string{"path": `HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired`, "name": "rmm", "type": "DWord", "value": "1"}, nil)
	s.mustOK("action_registry_set", map[string]string{"path": `HKLM:\SOFTWARE\Contoso`, "name": "Keep", "type": "String", "value": "yes"}, nil)
	if f.hosts[0].pendingRebootSince().IsZero() {
		t.Fatalf("RebootRequired did not mark a pending reboot")
	}
	s.mustOK("action_service_control", map[string]string{"name": "Spooler", "op": "stop"}, nil) // Automatic: starts at boot
	s.mustOK("action_service_control", map[string]string{"name": "Appinfo", "op": "stop"}, nil) // Manual: stays stopped
	s.mustOK("action_file_push", map[string]string{"path": `C:\Data\keep.txt`, "offset": "0", "data": base64.StdEncoding.EncodeToString([]byte("hi")), "final": "true", "sha256": sumHex([]byte("hi"))}, nil)
	oldPID := s.processes("lsass")

	doc := s.mustOK("action_reboot", map[string]string{"delay_s": "0"}, nil)
	if doc.Message != "Restart scheduled" {
		t.Fatalf("reboot: %q", doc.Message)
	}
	s.mustFail("action_reboot", nil, "A system shutdown is in progress.")
	waitFor(t, "host unreachable", func() bool { return !dialable(hi) })
	if got, _ := f.Host(hi.Hostname); got.Online {
		t.Fatalf("rebooting host reports online")
	}
	waitFor(t, "host back", func() bool { return dialable(hi) })

	// The old shell is gone.
	status, body := s.c.receive(t, s.shell, s.cmd, "PT1S")
	if status != 500 || faultCode(body) != "2150858843" {
		t.Fatalf("old shell after reboot: HTTP %d fault %q, want shell not found", status, faultCode(body))
	}
	s2 := startLoop(t, f, 0)
	s2.until("READY")
	after := s2.state()
	b0, _ := time.Parse(time.RFC3339, before.LastBoot)
	b1, _ := time.Parse(time.RFC3339, after.LastBoot)
	if !b1.After(b0) {
		t.Fatalf("last boot %s not after %s", after.LastBoot, before.LastBoot)
	}
	if after.Pending != "" || !f.hosts[0].pendingRebootSince().IsZero() {
		t.Fatalf("pending reboot survived the reboot: %q", after.Pending)
	}
	if after.Registry != before.Registry+1 || !slices.Contains(after.Files, `C:\Data\keep.txt`) {
		t.Fatalf("registry %d (before %d) files %v: the disk and registry must survive", after.Registry, before.Registry, after.Files)
	}
	if s2.service("Spooler").State != "Running" || s2.service("Appinfo").State != "Stopped" {
		t.Fatalf("after boot: Spooler %s (want Running), Appinfo %s (want Stopped)", s2.service("Spooler").State, s2.service("Appinfo").State)
	}
	if slices.Equal(oldPID, s2.processes("lsass")) {
		t.Fatalf("lsass has the same pid %v after a reboot", oldPID)
	}
}

func sumHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// sendWake sends a datagram to the fleet's wake listener.
func sendWake(t *testing.T, f *Fleet, payload []byte) {
	t.Helper()
	c, err := net.Dial("udp4", f.WakeAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
}

func TestActionShutdownThenWakeOnLAN(t *testing.T) {
	f := startFleet(t, Config{Devices: 3, Seed: 4, RebootDowntime: 200 * time.Millisecond})
	if a := f.WakeAddr(); !strings.HasPrefix(a, "127.0.0.1:") {
		t.Fatalf("WakeAddr %q", a)
	}
	hi := f.Hosts()[1]
	s := startLoop(t, f, 1)
	s.until("READY")
	before := s.state()
	if doc := s.mustOK("action_shutdown", nil, nil); doc.Message != "Shutdown scheduled" {
		t.Fatalf("shutdown: %q", doc.Message)
	}
	waitFor(t, "host off", func() bool { return f.hosts[1].powerNow() == powerOff })
	if dialable(hi) {
		t.Fatalf("shut-down host accepts connections")
	}

	// A magic packet for another MAC, and garbage, do not wake it.
	other, _ := MagicPacket(f.Hosts()[0].MAC)
	sendWake(t, f, other)
	sendWake(t, f, []byte("not a magic packet"))
	waitFor(t, "two datagrams counted", func() bool { return f.Wake().Packets >= 2 })
	if f.hosts[1].powerNow() != powerOff || dialable(hi) {
		t.Fatalf("a packet for %s woke %s", f.Hosts()[0].MAC, hi.Hostname)
	}
	if f.Wake().Woken != 0 {
		t.Fatalf("woken %d, want 0 (host 0 is running)", f.Wake().Woken)
	}

	// Its own MAC, inside a longer payload, does.
	pkt, err := MagicPacket(hi.MAC)
	if err != nil {
		t.Fatal(err)
	}
	sendWake(t, f, append(append([]byte{1, 2, 3}, pkt...), 0, 0, 0, 0, 0, 0))
	waitFor(t, "host back after the magic packet", func() bool { return dialable(hi) })
	if w := f.Wake(); w.Woken != 1 || w.LastMAC != hi.MAC {
		t.Fatalf("wake stats %+v", w)
	}
	s2 := startLoop(t, f, 1)
	s2.until("READY")
	b0, _ := time.Parse(time.RFC3339, before.LastBoot)
	b1, _ := time.Parse(time.RFC3339, s2.state().LastBoot)
	if !b1.After(b0) {
		t.Fatalf("woken host kept its boot time %s", b0)
	}
}

func TestMagicPacketMAC(t *testing.T) {
	pkt, _ := MagicPacket("00:15:5d:0a:0b:0c")
	if mac, ok := magicPacketMAC(pkt); !ok || mac != [6]byte{0, 0x15, 0x5d, 0xa, 0xb, 0xc} {
		t.Fatalf("got %x %v", mac, ok)
	}
	bad := bytes.Clone(pkt)
	bad[60] ^= 1
	if _, ok := magicPacketMAC(bad); ok {
		t.Fatalf("a corrupted repetition was accepted")
	}
	if _, ok := magicPacketMAC(pkt[:101]); ok {
		t.Fatalf("a truncated packet was accepted")
	}
	if _, err := MagicPacket("zz"); err == nil {
		t.Fatalf("MagicPacket accepted a bad MAC")
	}
}

func TestActionFilePushPullRoundTrip(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 9})
	s := startLoop(t, f, 0)
	s.until("READY")
	data := make([]byte, 200_000)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	const path = `C:\Temp\payload.bin`
	const chunk = 64 << 10
	var d struct {
		Size   int    `json:"size"`
		SHA256 string `json:"sha256"`
	}
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		p := map[string]string{"path": path, "offset": strconv.Itoa(off), "data": base64.StdEncoding.EncodeToString(data[off:end]), "final": strconv.FormatBool(end == len(data))}
		if end == len(data) {
			p["sha256"] = sumHex(data)
		}
		doc := s.mustOK("action_file_push", p, &d)
		if d.Size != end {
			t.Fatalf("after chunk at %d: size %d, want %d (%s)", off, d.Size, end, doc.Message)
		}
	}
	if d.SHA256 != sumHex(data) {
		t.Fatalf("push sha256 %s", d.SHA256)
	}
	// A chunk at the wrong offset is refused.
	s.mustFail("action_file_push", map[string]string{"path": path, "offset": "5", "data": "AAAA", "final": "false"}, "offset mismatch")

	var got []byte
	for off := 0; ; {
		var pd struct {
			Size   int    `json:"size"`
			Data   string `json:"data"`
			SHA256 string `json:"sha256"`
		}
		s.mustOK("action_file_pull", map[string]string{"path": `c:\temp\PAYLOAD.bin`, "offset": strconv.Itoa(off), "length": "50000"}, &pd)
		b, err := base64.StdEncoding.DecodeString(pd.Data)
		wantSum := "" // the file is hashed once, with its last chunk
		if off+len(b) >= len(data) {
			wantSum = sumHex(data)
		}
		if err != nil || pd.Size != len(data) || pd.SHA256 != wantSum {
			t.Fatalf("pull at %d: %v size %d sha %q, want %q", off, err, pd.Size, pd.SHA256, wantSum)
		}
		if len(b) == 0 {
			break
		}
		got = append(got, b...)
		off += len(b)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("pulled %d bytes that differ from the %d pushed", len(got), len(data))
	}

	// A wrong checksum on the final chunk removes the file.
	s.mustFail("action_file_push", map[string]string{"path": `C:\Temp\bad.txt`, "offset": "0", "data": base64.StdEncoding.EncodeToString([]byte("hello")), "final": "true", "sha256": sumHex([]byte("other"))}, "checksum mismatch")
	s.mustFail("action_file_pull", map[string]string{"path": `C:\Temp\bad.txt`, "offset": "0", "length": "10"}, `Cannot find path 'C:\Temp\bad.txt' because it does not exist.`)
	if st := s.state(); !slices.Equal(st.Files, []string{path}) {
		t.Fatalf("host_state files %v", st.Files)
	}
	// clear_temp removes pushed files under C:\Windows\Temp, and counts them.
	s.mustOK("action_file_push", map[string]string{"path": `C:\Windows\Temp\x.log`, "offset": "0", "data": "eA==", "final": "true", "sha256": sumHex([]byte("x"))}, nil)
	var ct struct{ Files int }
	first := s.mustOK("action_clear_temp", nil, &ct)
	if ct.Files < 2 || !strings.HasPrefix(first.Message, "Removed ") || !strings.HasSuffix(first.Message, " MB)") {
		t.Fatalf("clear_temp: %q", first.Message)
	}
	if again := s.mustOK("action_clear_temp", nil, nil); again.Message != "Removed 0 files (0.0 MB)" {
		t.Fatalf("second clear_temp: %q", again.Message)
	}
	if st := s.state(); !slices.Equal(st.Files, []string{path}) {
		t.Fatalf("after clear_temp files %v", st.Files)
	}
}

func TestActionFilePushLimit(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 9})
	h := f.hosts[0]
	run := func(p map[string]string) actionReply {
		return actFilePush(&actionRun{h: h, f: f, params: p})
	}
	big := base64.StdEncoding.EncodeToString(make([]byte, 6<<20))
	if r := run(map[string]string{"path": `C:\big.bin`, "offset": "0", "data": big, "final": "false"}); !r.OK {
		t.Fatalf("first 6 MB: %s", r.Message)
	}
	if r := run(map[string]string{"path": `C:\big.bin`, "offset": strconv.Itoa(6 << 20), "data": big, "final": "false"}); r.OK || !strings.Contains(r.Message, "at most 10 MB") {
		t.Fatalf("12 MB file accepted: %+v", r)
	}
	if r := run(map[string]string{"path": `relative\x`, "offset": "0", "data": "", "final": "true"}); r.OK {
		t.Fatalf("relative path accepted")
	}
}

func TestActionRegistrySetAndSmallActions(t *testing.T) {
	f := startFleet(t, Config{Devices: 2, Seed: 21})
	s := startLoop(t, f, 0)
	s.until("READY")
	st0 := s.state()
	var rd struct{ Path, Name, Type, Value string }
	doc := s.mustOK("action_registry_set", map[string]string{"path": `HKLM:\SOFTWARE\Contoso`, "name": "Ring", "type": "String", "value": "pilot"}, &rd)
	if doc.Message != `Set HKLM:\SOFTWARE\Contoso\Ring (String)` || rd.Value != "pilot" || rd.Type != "String" {
		t.Fatalf("registry_set: %q %+v", doc.Message, rd)
	}
	s.mustOK("action_registry_set", map[string]string{"path": `HKLM:\SOFTWARE\Contoso`, "name": "ring", "type": "DWord", "value": "7"}, nil) // same value, overwritten
	s.mustOK("action_registry_set", map[string]string{"path": `HKCU:\Software\Contoso`, "name": "Bin", "type": "Binary", "value": "0aff10"}, nil)
	if got := s.state().Registry; got != st0.Registry+2 {
		t.Fatalf("registry_count %d, want %d", got, st0.Registry+2)
	}
	s.mustFail("action_registry_set", map[string]string{"path": `HKLM:\SOFTWARE\Contoso`, "name": "X", "type": "Text", "value": "1"}, "type 'Text' is not one of")
	s.mustFail("action_registry_set", map[string]string{"path": `HKLM:\SOFTWARE\Contoso`, "name": "X", "type": "DWord", "value": "abc"}, "Input string was not in a correct format.")
	s.mustFail("action_registry_set", map[string]string{"path": `HKLM:\SOFTWARE\Contoso`, "name": "X", "type": "Binary", "value": "abc"}, "not hex digits in pairs")
	s.mustFail("action_registry_set", map[string]string{"path": `QQ:\x`, "name": "X", "type": "String", "value": "1"}, "Cannot find drive")

	// RDP, set directly or through its registry value.
	var rdp struct {
		RDP bool `json:"rdp_enabled"`
	}
	if doc := s.mustOK("action_enable_rdp", nil, &rdp); doc.Message != "RDP enabled" || !rdp.RDP || !f.hosts[0].rdpEnabled() {
		t.Fatalf("enable_rdp: %q %+v", doc.Message, rdp)
	}
	if doc := s.mustOK("action_disable_rdp", nil, &rdp); doc.Message != "RDP disabled" || rdp.RDP || s.state().RDP {
		t.Fatalf("disable_rdp: %q %+v", doc.Message, rdp)
	}
	s.mustOK("action_registry_set", map[string]string{"path": `HKLM:\System\CurrentControlSet\Control\Terminal Server`, "name": "fDenyTSConnections", "type": "DWord", "value": "0"}, nil)
	if !f.hosts[0].rdpEnabled() {
		t.Fatalf("fDenyTSConnections=0 did not enable RDP")
	}

	// Lock and logoff need a session: log one on through the control API.
	h := f.hosts[0]
	h.hs().mu.Lock()
	h.setSessionsLocked(1)
	h.hs().mu.Unlock()
	if len(s.processes("explorer")) != 1 {
		t.Fatalf("a logged-on user has no explorer")
	}
	if doc := s.mustOK("action_lock", nil, nil); doc.Message != "Workstation locked" {
		t.Fatalf("lock: %q", doc.Message)
	}
	s.mustFail("action_lock", nil, "No interactive session")
	if doc := s.mustOK("action_logoff", nil, nil); doc.Message != "Logged off 1 session(s)" {
		t.Fatalf("logoff: %q", doc.Message)
	}
	if len(s.processes("explorer")) != 0 {
		t.Fatalf("explorer survived the logoff")
	}
	if doc := s.mustOK("action_logoff", nil, nil); doc.Message != "Logged off 0 session(s)" {
		t.Fatalf("second logoff: %q", doc.Message)
	}
	s.mustFail("action_lock", nil, "No interactive session")

	if doc := s.mustOK("action_flush_dns", nil, nil); doc.Message != "Successfully flushed the DNS Resolver Cache." {
		t.Fatalf("flush_dns: %q", doc.Message)
	}
	if doc := s.mustOK("action_gpupdate", nil, nil); !strings.HasPrefix(doc.Message, "Computer Policy update has completed successfully. User Policy update has completed successfully.") {
		t.Fatalf("gpupdate: %q", doc.Message)
	}
	// Unknown actions and versions are "not recognized", as before.
	s.request("u1", "# rmm:script=action_nope v1\n")
	if a := s.answer("u1"); a.Exit != 1 || len(a.Errors) == 0 || !strings.Contains(a.Errors[0], "is not recognized") {
		t.Fatalf("unknown action: %+v", a)
	}
	s.request("u2", "# rmm:script=action_lock v9\n")
	if a := s.answer("u2"); a.Exit != 1 || len(a.Errors) == 0 {
		t.Fatalf("unknown version: %+v", a)
	}
}

// TestActionOverEncodedCommand runs an action the way masterzen/winrm's
// Powershell() does (-EncodedCommand, no loop): stdout JSON; a version 1
// script exits 1 when not ok, a version 2 script runs to its end.
func TestActionOverEncodedCommand(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 2})
	c := newClient(t, f.Hosts()[0], DefaultUser, DefaultPassword, nil)
	params := map[string]string{"name": "Nope", "op": "stop"}
	for script, want := range map[string]int{actionBody("action_service_control", params): 0, actionBodyV1("action_service_control", params): 1} {
		stdout, _, code, err := c.RunWithContextWithString(t.Context(), "powershell -NoProfile -EncodedCommand "+encode(script), "")
		if err != nil {
			t.Fatal(err)
		}
		var doc actionDoc
		if jerr := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &doc); jerr != nil || doc.OK || code != want {
			t.Fatalf("got %q exit %d, want exit %d (%v)", stdout, code, want, errors.Join(jerr))
		}
	}
}
