package winrm

import (
	"os"
	"path/filepath"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ps", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeStderrSeparatesProgressFromErrors(t *testing.T) {
	s, err := DecodeStderr(string(readFixture(t, "stderr_progress.clixml")))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Errors) != 0 || s.Progress != 1 {
		t.Fatalf("progress-only stderr: errors=%q progress=%d, want none and 1", s.Errors, s.Progress)
	}

	s, err = DecodeStderr(string(readFixture(t, "stderr_error.clixml")))
	if err != nil {
		t.Fatal(err)
	}
	want := "Get-CimInstance : Access denied\nAt line:1 char:1"
	if got := s.ErrorText(); got != want {
		t.Fatalf("ErrorText = %q, want %q", got, want)
	}
	if len(s.Warnings) != 1 || s.Warnings[0] != "disk_check skipped" {
		t.Fatalf("warnings = %q, want the _x005F_ escape decoded", s.Warnings)
	}
}

func TestDecodeStderrTakesPlainTextAsErrors(t *testing.T) {
	s, err := DecodeStderr("'foo' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Errors) != 2 {
		t.Fatalf("errors = %q, want 2 lines", s.Errors)
	}
}

func TestDecodeStderrReportsBrokenCLIXML(t *testing.T) {
	if _, err := DecodeStderr("#< CLIXML\r\n<Objs><S S=\"Error\">unterminated"); err == nil {
		t.Fatal("broken CLIXML decoded without error")
	}
}

func FuzzDecodeStderr(f *testing.F) {
	f.Add("#< CLIXML\r\n<Objs><S S=\"Error\">x_x000D__x000A_</S></Objs>")
	f.Add("plain error\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = DecodeStderr(s)
	})
}
