package sshserve_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/rmmhq/rmm/store"
)

// scpFile is one file an scp fetch received.
type scpFile struct {
	mode, name string
	data       []byte
}

// scpFetch runs the classic scp protocol's receiving side (what `scp -O
// USER@HOST:PATH .` does) over a new session of c: it asks the server for
// p and returns the first file it sends, or the server's refusal with its
// message.
func scpFetch(c *gossh.Client, p string) (scpFile, error) {
	sess, err := c.NewSession()
	if err != nil {
		return scpFile{}, err
	}
	defer sess.Close()
	stdin, err := sess.StdinPipe()
	if err != nil {
		return scpFile{}, err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return scpFile{}, err
	}
	stderr := &syncBuffer{}
	sess.Stderr = stderr
	if err := sess.Start("scp -f " + p); err != nil {
		return scpFile{}, err
	}
	fail := func(err error) (scpFile, error) {
		_ = stdin.Close()
		werr := sess.Wait()
		return scpFile{}, fmt.Errorf("%w (exit: %v; server said %q)", err, werr, stderr.String())
	}
	// wish's scp sends the whole file without waiting for the acks and
	// may have closed the channel by the time one is written, so a failed
	// ack is not an error; reading what it sent is what counts.
	ack := func() error { _, _ = stdin.Write([]byte{0}); return nil }
	_ = ack()
	r := bufio.NewReader(stdout)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return fail(err)
		}
		switch line[0] {
		case 'T': // times
			if err := ack(); err != nil {
				return fail(err)
			}
		case 'C':
			f := strings.SplitN(strings.TrimSuffix(line[1:], "\n"), " ", 3)
			if len(f) != 3 {
				return fail(fmt.Errorf("bad header %q", line))
			}
			size, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return fail(err)
			}
			if err := ack(); err != nil {
				return fail(err)
			}
			data := make([]byte, size)
			if _, err := io.ReadFull(r, data); err != nil {
				return fail(err)
			}
			if b, err := r.ReadByte(); err != nil || b != 0 {
				return fail(fmt.Errorf("no end of file mark: %v", err))
			}
			if err := ack(); err != nil {
				return fail(err)
			}
			_ = stdin.Close()
			if err := sess.Wait(); err != nil {
				return scpFile{}, fmt.Errorf("after the file: %w", err)
			}
			return scpFile{mode: f[0], name: f[2], data: data}, nil
		default: // \x01 or \x02: an error line
			return fail(errors.New(strings.TrimSpace(line[1:])))
		}
	}
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not written", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAViewerExportsOverSSHOnlyIntoTheirOwnDirectoryAndFetchesItWithSCP
// is the report's F1 end to end, with a real SSH client: a Viewer's
// console refuses to export onto the server's files, writes a file name
// into the Viewer's own export directory (audited), and the Viewer takes
// it home with scp through the same server, which serves nothing else.
func TestAViewerExportsOverSSHOnlyIntoTheirOwnDirectoryAndFetchesItWithSCP(t *testing.T) {
	f := newFixture(t)
	f.start(t, f.config(t))
	victim := filepath.Join(t.TempDir(), "config.yaml")
	const victimText = "users: []\n"
	if err := os.WriteFile(victim, []byte(victimText), 0o600); err != nil {
		t.Fatal(err)
	}

	c := f.login(t, "victor", f.viewer)
	tm := open(t, c, true)
	tm.waitFor(t, "WS-SSH-001", "victor")
	if _, err := tm.in.Write([]byte(":export json " + victim + "\r")); err != nil {
		t.Fatal(err)
	}
	tm.waitFor(t, "give a file name, not a path")
	if b, _ := os.ReadFile(victim); string(b) != victimText {
		t.Fatalf("the server's file was replaced: %q", b)
	}
	if _, err := tm.in.Write([]byte(":export csv fleet.csv\r")); err != nil {
		t.Fatal(err)
	}
	exported := filepath.Join(f.exports, "victor", "fleet.csv")
	waitFile(t, exported)
	tm.waitFor(t, "exported 2 devices to fleet.csv")
	want, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(exported); fi.Mode().Perm() != 0o600 {
		t.Errorf("export mode %v, want 0600", fi.Mode().Perm())
	}
	rows, err := f.db.ListAudit(context.Background(), store.AuditFilter{Action: "devices.export", Result: store.AuditSuccess}) // after its pending row
	if err != nil || len(rows) != 1 || rows[0].User != "victor" || rows[0].Via != "ssh" || rows[0].Result != store.AuditSuccess ||
		!strings.HasPrefix(rows[0].RemoteAddr, "127.0.0.1:") {
		t.Fatalf("devices.export audit rows %+v, %v", rows, err)
	}

	// The fetch: the same bytes, under the name asked for.
	got, err := scpFetch(c, "fleet.csv")
	if err != nil {
		t.Fatalf("scp fetch: %v", err)
	}
	if got.name != "fleet.csv" || got.mode != "0600" || string(got.data) != string(want) || !strings.HasPrefix(string(got.data), "Hostname,FQDN,") {
		t.Errorf("fetched %s mode %s: %q; want %q", got.name, got.mode, got.data, want)
	}
	for _, p := range []string{"/fleet.csv", "~/fleet.csv", "./fleet.csv"} {
		if got, err := scpFetch(c, p); err != nil || got.name != "fleet.csv" {
			t.Errorf("scp fetch %s: %+v, %v", p, got, err)
		}
	}

	// Nothing else on the server: another user's exports, the server's
	// files, a link planted to them.
	aliceDir := filepath.Join(f.exports, "alice")
	if err := os.MkdirAll(aliceDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(aliceDir, "secret.csv"), []byte("alice's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(f.exports, "victor", "link.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../alice/secret.csv", filepath.Join(f.exports, "victor", "rel.csv")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../alice/secret.csv", "../../config.yaml", victim, "link.csv", "rel.csv", "*/secret.csv", "../*"} {
		got, err := scpFetch(c, p)
		if err == nil {
			t.Errorf("scp fetch %s served %s: %q", p, got.name, got.data)
		}
	}

	// Uploads are refused, and write nothing.
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.CombinedOutput("scp -t fleet.csv")
	var ee *gossh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 1 || !strings.Contains(string(out), "read-only") {
		t.Errorf("scp upload: %v, %q; want exit 1, read-only", err, out)
	}
	if b, _ := os.ReadFile(exported); string(b) != string(want) {
		t.Error("the upload changed the export")
	}
	if _, err := tm.in.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	tm.end(t)
}

// TestSCPNeedsAConfiguredUser: an scp fetch logs in like the console:
// with the key of a configured user, as that user.
func TestSCPNeedsAConfiguredUser(t *testing.T) {
	f := newFixture(t)
	f.start(t, f.config(t))
	if err := os.MkdirAll(filepath.Join(f.exports, "alice"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.exports, "alice", "a.csv"), []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.dial("alice", gossh.PublicKeys(f.viewer.signer)); err == nil {
		t.Fatal("victor's key logged in as alice")
	}
	c := f.login(t, "victor", f.viewer)
	if got, err := scpFetch(c, "a.csv"); err == nil {
		t.Errorf("victor fetched alice's export: %q", got.data)
	}
	c = f.login(t, "alice", f.admin)
	if got, err := scpFetch(c, "a.csv"); err != nil || string(got.data) != "x\n" {
		t.Errorf("alice's own fetch: %q, %v\n%s", got.data, err, f.log.String())
	}
}
