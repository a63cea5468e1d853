package cmd

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

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

	// Every form a secret could leak in: as is; in an Authorization:
	// Basic header (base64 of "user:password"); base64 of the password
	// alone or inside a longer base64 text; UTF-16LE (PowerShell's
	// strings), and base64 of that (a -EncodedCommand).
	var canaries []canary
	for _, c := range []struct{ user, pw string }{
		{winrmsim.DefaultUser, winrmPassword}, {winrmsim.DefaultUser, wrongPassword},
		{"", vaultPass}, {`LAB\svc`, storedSecret},
	} {
		canaries = append(canaries, secretForms(c.user, c.pw)...)
	}
	out := printed.Bytes()
	for _, c := range canaries {
		if bytes.Contains(out, c.b) {
			t.Errorf("a secret (%s) appears in rmm's output", c.form)
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
		for _, cn := range canaries {
			if bytes.Contains(b, cn.b) {
				t.Errorf("a secret (%s) appears in %s", cn.form, strings.TrimPrefix(path, c.home))
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

// canary is one encoded form of a test secret, and what form it is (the
// test never prints the secret itself).
type canary struct {
	form string
	b    []byte
}

// secretForms returns the forms of pw (and of user:pw, with a user) that
// the secrets test searches for.
func secretForms(user, pw string) []canary {
	wide := utf16LE(pw)
	forms := []canary{
		{"plain, " + strconv.Itoa(len(pw)) + " chars", []byte(pw)},
		{"UTF-16LE", wide},
	}
	if user != "" {
		forms = append(forms, canary{"base64 of user:password (Basic auth)",
			[]byte(base64.StdEncoding.EncodeToString([]byte(user + ":" + pw)))})
	}
	forms = append(forms, base64Forms("base64", []byte(pw))...)
	return append(forms, base64Forms("base64 of UTF-16LE (-EncodedCommand)", wide)...)
}

// base64Forms is what data looks like inside any longer base64 text.
// Base64 encodes 3-byte groups, and data may start anywhere in one; for
// each of the three offsets k, data[k:] starts a group, and its whole
// groups encode to characters that depend on data alone.
func base64Forms(form string, data []byte) []canary {
	var out []canary
	for k := range 3 {
		d := data[k:]
		enc := base64.StdEncoding.EncodeToString(d[:len(d)/3*3])
		out = append(out, canary{form + " (from byte " + strconv.Itoa(k) + ")", []byte(enc)})
	}
	return out
}

// utf16LE is s in UTF-16, little endian.
func utf16LE(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func TestTheSecretFormsFindAnEncodedSecret(t *testing.T) {
	const pw = "Pw-Leak-Canary-7f3a91"
	basic := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("rmm:"+pw))
	// A script carrying the password, base64'd as -EncodedCommand, at
	// each of three offsets.
	for _, prefix := range []string{"$p='", "$pw='", "$pwd='"} {
		cmd := base64.StdEncoding.EncodeToString(utf16LE(prefix + pw + "'"))
		found := false
		for _, c := range secretForms("rmm", pw) {
			found = found || bytes.Contains([]byte(cmd), c.b)
		}
		if !found {
			t.Errorf("the forms miss the password in %q's -EncodedCommand", prefix)
		}
	}
	found := false
	for _, c := range secretForms("rmm", pw) {
		found = found || bytes.Contains([]byte(basic), c.b)
	}
	if !found {
		t.Error("the forms miss the password in a Basic auth header")
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
