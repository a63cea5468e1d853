package cmd

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// asciiWriter escapes every non-ASCII rune as \uXXXX (and invalid bytes
// as \xHH) before it reaches the log file, so logs stay plain ASCII even
// when a Windows host answers in another language.
type asciiWriter struct{ w io.Writer }

func (a asciiWriter) Write(p []byte) (int, error) {
	ascii := true
	for _, c := range p {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return a.w.Write(p)
	}
	var b strings.Builder
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, p[i])
		case r < 0x80:
			b.WriteByte(byte(r))
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += size
	}
	if _, err := io.WriteString(a.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// logFiles lists the current log and its rotated backups (lumberjack
// names them NAME-TIMESTAMP.EXT, optionally .gz), oldest first.
func logFiles(current string) ([]string, error) {
	dir, base := filepath.Dir(current), filepath.Base(current)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("log directory %s: %w", dir, err)
	}
	var backups []string
	for _, e := range entries {
		n := e.Name()
		if n != base && strings.HasPrefix(n, stem+"-") && (strings.HasSuffix(n, ext) || strings.HasSuffix(n, ext+".gz")) {
			backups = append(backups, filepath.Join(dir, n))
		}
	}
	slices.Sort(backups) // the timestamp in the name sorts by time
	if _, err := os.Stat(current); err == nil {
		backups = append(backups, current)
	}
	return backups, nil
}

// grepDevice writes the lines of the log files that are about host: text
// lines carrying device=HOST, JSON lines carrying "device":"HOST".
func grepDevice(files []string, host string, w io.Writer) (int, error) {
	textKey := "device=" + host
	jsonKey := `"device":"` + host + `"`
	n := 0
	for _, f := range files {
		if err := func() error {
			fh, err := os.Open(f)
			if err != nil {
				return err
			}
			defer fh.Close()
			var r io.Reader = fh
			if strings.HasSuffix(f, ".gz") {
				gz, err := gzip.NewReader(fh)
				if err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
				defer gz.Close()
				r = gz
			}
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
			for sc.Scan() {
				line := sc.Text()
				if hasField(line, textKey) || strings.Contains(line, jsonKey) {
					n++
					if _, err := fmt.Fprintln(w, line); err != nil {
						return err
					}
				}
			}
			return sc.Err()
		}(); err != nil {
			return n, fmt.Errorf("read log %s: %w", f, err)
		}
	}
	return n, nil
}

// hasField reports whether line holds key as a whole field (so
// device=WS-1 does not match device=WS-10).
func hasField(line, key string) bool {
	for i := 0; ; {
		j := strings.Index(line[i:], key)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(key)
		startOK := j == 0 || line[j-1] == ' '
		endOK := end == len(line) || line[end] == ' '
		if startOK && endOK {
			return true
		}
		i = j + 1
	}
}
