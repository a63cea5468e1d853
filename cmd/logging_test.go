package cmd

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogsStayASCII(t *testing.T) {
	var b bytes.Buffer
	w := asciiWriter{&b}
	in := "msg=\"Zugriff verweigert: Pr\u00fcfung\" device=WS-1 bad=\xff\n"
	if n, err := w.Write([]byte(in)); err != nil || n != len(in) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	for _, c := range b.Bytes() {
		if c >= 0x80 {
			t.Fatalf("non-ASCII byte in %q", b.String())
		}
	}
	if !strings.Contains(b.String(), `Pr\u00fcfung`) || !strings.Contains(b.String(), `\xff`) {
		t.Fatalf("escapes missing: %q", b.String())
	}
}

func TestLogsForADeviceSearchCurrentAndRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	cur := filepath.Join(dir, "rmm.log")
	write := func(name, s string, gz bool) {
		var data []byte = []byte(s)
		if gz {
			var b bytes.Buffer
			z := gzip.NewWriter(&b)
			z.Write(data)
			z.Close()
			data = b.Bytes()
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("rmm-2026-11-01T00-00-00.000.log.gz", "level=INFO msg=old device=WS-1\nlevel=INFO msg=x device=WS-10\n", true)
	write("rmm-2026-11-02T00-00-00.000.log", `{"level":"INFO","msg":"json","device":"WS-1"}`+"\n", false)
	write("rmm.log", "level=INFO msg=new device=WS-1 err=x\nlevel=INFO msg=other device=WS-2\n", false)
	files, err := logFiles(cur)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := grepDevice(files, "WS-1", &out)
	if err != nil {
		t.Fatal(err)
	}
	want := "level=INFO msg=old device=WS-1\n" + `{"level":"INFO","msg":"json","device":"WS-1"}` + "\nlevel=INFO msg=new device=WS-1 err=x\n"
	if n != 3 || out.String() != want {
		t.Fatalf("got %d lines:\n%s\nwant:\n%s", n, out.String(), want)
	}
}
