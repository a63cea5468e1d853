package engine_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// Every host profile the simulator plays (each as strict as that kind of
// Windows host) polled, inventoried and sent every catalog action that
// reaches the host; what a profile cannot do must say so plainly.
func TestEveryActionAndCollectorOnEveryHostProfile(t *testing.T) {
	for _, p := range winrmsim.Profiles() {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 61, Profile: p.Name,
				PSStart: time.Millisecond, ScriptTime: time.Millisecond, RebootDowntime: 100 * time.Millisecond})
			h := fleet.Hosts()[0]
			eng := newEngine(t, db, engine.Options{Throttle: 2, Retries: -1})
			ctx := context.Background()

			res, err := eng.Sweep(ctx)
			if err != nil || res.Online != 1 {
				t.Fatalf("sweep %+v %v: the host is online", res, err)
			}
			if d := stateOf(t, eng, h.Hostname); d.Status != store.StatusOnline {
				t.Fatalf("status %s (%s)", d.Status, d.LastError)
			}

			docs, err := eng.CollectInventory(ctx, deviceID(t, eng, h.Hostname), nil, false)
			if err != nil || len(docs) != 4 {
				t.Fatalf("inventory: %d documents, %v", len(docs), err)
			}
			for _, d := range docs {
				if d.Error != "" {
					t.Errorf("inventory %s: %s", d.Category, d.Error)
				}
			}
			sec, err := scripts.ParseSecurity(docOf(t, docs, "security").Data)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name == "server-core" && (sec.Defender.Unavailable == "" || sec.BitLocker.Unavailable == "") {
				t.Errorf("Server Core: defender %q, bitlocker %q: the missing cmdlets must be named", sec.Defender.Unavailable, sec.BitLocker.Unavailable)
			}

			if _, err := engine.Call(ctx, eng, admin, engine.AddScript{Name: "hello", Body: "Write-Host \"hello $Who\"",
				Params: []engine.ParamSpec{{Name: "Who", Type: "string"}}}); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(fleet.ControlHandler())
			defer srv.Close()
			if resp, err := http.Post(srv.URL+"/hosts/"+h.Hostname+"/logon", "", nil); err == nil {
				resp.Body.Close()
			}
			src := filepath.Join(t.TempDir(), "tool.cfg")
			if err := os.WriteFile(src, []byte(strings.Repeat("rmm profile test\n", 5000)), 0o600); err != nil {
				t.Fatal(err)
			}
			clm := p.Name == "clm"
			actions := []struct {
				name   string
				params map[string]string
				fails  string // "" : must complete; else the plain reason it gives
			}{
				{"service", map[string]string{"name": "Spooler", "op": "restart"}, ""},
				{"process-kill", map[string]string{"name": "ctfmon"}, ""},
				{"run-script", map[string]string{"script": "hello", "Who": "profile " + p.Name}, ""},
				{"registry-set", map[string]string{"path": `HKLM:\SOFTWARE\Contoso`, "name": "Mask", "type": "DWord", "value": "0xFFFFFFFF"}, ""},
				{"enable-rdp", nil, ""},
				{"disable-rdp", nil, ""},
				{"clear-temp", nil, ""},
				{"flush-dns", nil, ""},
				{"gpupdate", nil, ""},
				{"lock", nil, ""},
				{"logoff", nil, ""},
				{"file-push", map[string]string{"source": src, "path": `C:\Temp\tool.cfg`}, map[bool]string{true: "FullLanguage"}[clm]},
				{"file-pull", map[string]string{"path": `C:\Temp\tool.cfg`, "dest": filepath.Join(t.TempDir(), "back.cfg")}, map[bool]string{true: "FullLanguage"}[clm]},
				{"reboot", nil, ""},
			}
			for _, a := range actions {
				r := one(t, runAction(t, eng, operator, engine.StartRun{Name: a.name, Params: a.params, Target: hostTarget(h.Hostname), Confirmed: true}))
				switch {
				case a.fails == "" && r.Status != engine.ActionCompleted:
					t.Errorf("%s: %s %q (stderr %q)", a.name, r.Status, r.Message, r.Stderr)
				case a.fails != "" && (r.Status != engine.ActionFailed || !strings.Contains(r.Message, a.fails)):
					t.Errorf("%s: %s %q, want a failure that says %q", a.name, r.Status, r.Message, a.fails)
				case a.name == "run-script" && r.Message != "hello profile "+p.Name:
					// Write-Host: on stdout cold, in the information
					// stream warm; either way the run says it.
					t.Errorf("run-script: %q", r.Message)
				}
			}
		})
	}
}
