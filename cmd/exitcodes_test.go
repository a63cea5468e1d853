package cmd

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Newcomer B9: every kind of bad input exits 2 (the README's "bad input"),
// with words that say what to do: a bad flag, a bad flag value, an
// unknown command (with "did you mean"), a missing argument, a value the
// engine refuses.
func TestEveryKindOfBadInputExitsTwo(t *testing.T) {
	c := newCLI(t)
	script := filepath.Join(t.TempDir(), "hello.ps1")
	if err := os.WriteFile(script, []byte("Write-Output hi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "unknown flag: --bogus (rmm --help)"},
		{[]string{"devcies"}, `unknown command "devcies" for "rmm"; did you mean devices?`},
		{[]string{"devices", "--jsn"}, "unknown flag: --jsn (rmm devices --help)"},
		{[]string{"--demo", "--devices", "abc"}, `invalid argument "abc" for "--devices" flag`},
		{[]string{"alerts", "ack"}, "alerts ack: give an alert id or --filter EXPR, one of them"},
		{[]string{"alerts", "bogus"}, `unknown command "bogus" for "rmm alerts"`},
		{[]string{"doctor"}, "doctor: accepts 1 arg(s), received 0 (usage: rmm doctor HOST"},
		{[]string{"inventory"}, "inventory: accepts 1 arg(s), received 0"},
		{[]string{"config", "check"}, "config check: accepts 1 arg(s), received 0"},
		{[]string{"logs"}, "--device HOST is required"},
		{[]string{"scripts", "add", script, "--name", "bad name!"}, `script name "bad name!": want 1..100 characters`},
		{[]string{"alerts", "ack", "abc"}, `alert id "abc"`},
		{[]string{"db", "backup", filepath.Join(t.TempDir(), "nonexistent", "dir", "b.db")}, "create it first"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errb := c.run(tt.args...)
			if code != 2 || !strings.Contains(errb, tt.want) {
				t.Errorf("rmm %v: exit %d, %q; want exit 2 and %q", tt.args, code, errb, tt.want)
			}
		})
	}
}

// Newcomer: the quick start's --base-port was taken on a shared machine
// and rmm sim said only "bind: address already in use".
func TestSimOnATakenBasePortSaysWhatToDo(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	c := newCLI(t)
	code, _, errb := c.run("sim", "--devices", "1", "--base-port", strconv.Itoa(port))
	if code == 0 || !strings.Contains(errb, "choose another --base-port") || !strings.Contains(errb, "free ports are picked") {
		t.Errorf("sim on a taken port: exit %d, %q", code, errb)
	}
}
