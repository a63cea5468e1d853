package cmd

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/winrmsim"
)

// TestSecretsNeverLeaveTheVaultOrTheWire runs imports, polls, actions
// and inventory (with the right and a wrong password), credential commands and audit commands
// with known secrets, at debug log level, then searches every file rmm
// wrote (logs, rotated logs, the database and its WAL, archives) and
// everything it printed for them.
func TestSecretsNeverLeaveTheVaultOrTheWire(t *testing.T) {
	const (
		winrmPassword = "Pw-Leak-Canary-7f3a91"
		wrongPassword = "Pw-Wrong-Canary-c0ffee"
		vaultPass     = "Vault-Canary-5eb2d4"
		storedSecret  = "Stored-Canary-99ab1c"
	)
	fleet := startFleet(t, winrmsim.Config{Devices: 6, Seed: 3, OfflineFraction: 0.2, Password: winrmPassword})

	c := newCLI(t)
	csvPath := fleetCSV(t, fleet)

	var printed bytes.Buffer
	runAll := func(stdin string, args ...string) int {
		var out, errb bytes.Buffer
		code := c.app(strings.NewReader(stdin), &out, &errb).execute(context.Background(), args)
		printed.Write(out.Bytes())
		printed.Write(errb.Bytes())
		return code
	}
	runAll("", "--log-level", "debug", "import", csvPath)
	c.env["RMM_WINRM_USER"], c.env["RMM_WINRM_PASSWORD"] = winrmsim.DefaultUser, winrmPassword
	if code := runAll("", "--log-level", "debug", "poll", "--once", "--json"); code != 0 {
		t.Fatalf("poll exit %d: %s", code, printed.String())
	}
	var online string
	for _, h := range fleet.Hosts() {
		if h.Online {
			online = h.Hostname
			break
		}
	}
	if code := runAll("", "--log-level", "debug", "action", "run", "service", "--target", online,
		"--param", "name=Spooler", "--param", "op=restart", "--json"); code != 0 {
		t.Fatalf("action run exit %d: %s", code, printed.String())
	}
	if code := runAll("", "--log-level", "debug", "inventory", online, "--category", "security", "--json"); code != 0 {
		t.Fatalf("inventory exit %d: %s", code, printed.String())
	}
	c.env["RMM_WINRM_PASSWORD"] = wrongPassword
	runAll("", "--log-level", "debug", "poll", "--once")
	runAll("", "--log-level", "debug", "action", "run", "flush-dns", "--target", online)
	c.env["RMM_VAULT_PASSPHRASE"] = vaultPass
	if code := runAll(storedSecret+"\n", "--log-level", "debug", "creds", "set", "default", "--user", `LAB\svc`, "--password-stdin"); code != 0 {
		t.Fatalf("creds set: %s", printed.String())
	}
	delete(c.env, "RMM_WINRM_USER")
	delete(c.env, "RMM_WINRM_PASSWORD")
	runAll("", "--log-level", "debug", "poll", "--once") // the stored (wrong) credential is used and refused
	runAll("", "--log-level", "debug", "creds", "list")
	runAll("", "--read-only", "--log-level", "debug", "creds", "rm", "default")
	runAll("", "audit", "--json")
	runAll("", "devices", "--json")

	canaries := []string{winrmPassword, wrongPassword, vaultPass, storedSecret}
	for _, s := range canaries {
		if strings.Contains(printed.String(), s) {
			t.Errorf("a secret (canary %d chars) appears in rmm's output", len(s))
		}
	}
	files := 0
	err := filepath.WalkDir(c.home, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".gz") {
			if z, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
				if u, err := io.ReadAll(z); err == nil {
					b = u
				}
			}
		}
		for _, s := range canaries {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("a secret (canary %d chars) appears in %s", len(s), strings.TrimPrefix(path, c.home))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("searched only %d files; expected the log, the database and the vault at least", files)
	}
	log, err := os.ReadFile(filepath.Join(c.home, ".local", "state", "rmm", "logs", "rmm.log"))
	if err != nil || !bytes.Contains(log, []byte("device=")) || !bytes.Contains(log, []byte("401")) {
		t.Fatalf("the log lacks the poll lines the search relies on (err %v)", err)
	}
}

func TestTheLogRotatesBySizeAndLogsReadsTheBackups(t *testing.T) {
	c := newCLI(t)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte("log:\n  max_size_mb: 1\n  max_backups: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &app{configPath: cfg, getenv: func(k string) string { return c.env[k] }}
	if err := a.setup(nil); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 200)
	for i := 0; i < 12000; i++ { // about 3 MB: two rotations
		a.log.Info("poll ok", "device", "WS-0001", "n", i, "pad", pad)
	}
	a.logOut.Close()
	// lumberjack compresses backups in the background: wait until both are.
	deadline := time.Now().Add(5 * time.Second)
	for {
		all, err := logFiles(a.cfg.Log.File)
		if err != nil {
			t.Fatal(err)
		}
		gz, plain := 0, 0
		for _, f := range all {
			switch {
			case strings.HasSuffix(f, ".gz"):
				gz++
			case f != a.cfg.Log.File:
				plain++
			}
		}
		if (gz == 2 && plain == 0) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	files, _ := logFiles(a.cfg.Log.File)
	if len(files) != 3 {
		t.Fatalf("log files %v, want the current one and 2 backups", files)
	}
	var out bytes.Buffer
	n, err := grepDevice(files, "WS-0001", &out)
	if err != nil {
		t.Fatal(err)
	}
	if n < 8000 || n > 12000 {
		t.Fatalf("rmm logs found %d lines for WS-0001 across the backups", n)
	}
}
