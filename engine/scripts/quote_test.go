package scripts

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// scanSingleQuoted reads a PowerShell single-quoted string literal at the
// start of src the way the tokenizer does (Tokenizer.ScanStringLiteral):
// after the opening quote, a quote character followed by another one
// stands for the second; a quote character followed by anything else ends
// the string. It returns the value and the rest of src after the closing
// quote, or ok false when the literal does not end.
func scanSingleQuoted(src string) (val, rest string, ok bool) {
	isQuote := func(r rune) bool { return strings.ContainsRune(SingleQuotes, r) }
	r, n := utf8.DecodeRuneInString(src)
	if !isQuote(r) {
		return "", src, false
	}
	src = src[n:]
	var b strings.Builder
	for src != "" {
		r, n := utf8.DecodeRuneInString(src)
		src = src[n:]
		if isQuote(r) {
			next, m := utf8.DecodeRuneInString(src)
			if src == "" || !isQuote(next) {
				return b.String(), src, true
			}
			src = src[m:]
			r = next
		}
		b.WriteRune(r)
	}
	return "", "", false
}

// Reliability report F3: the watched services list doubled only the ASCII
// quote, and U+2019 closed the string: the payload ran on every polled
// host.
func TestQuoteKeepsTheReportsPayloadsLiteral(t *testing.T) {
	for _, v := range []string{
		"Spooler\u2019) + $(Remove-Item C:\\x -Recurse) + (\u2019",
		"Spooler'; Remove-Item C:\\ -Recurse; '",
		"Spooler\u2018; calc; \u201b",
		"a\u201a\u201a'b",
		"$(calc) `n \"x\"",
		"line\nbreak",
		"",
		"\u2019",
	} {
		q := Quote(v)
		got, rest, ok := scanSingleQuoted(q + ")")
		if !ok || got != v || rest != ")" {
			t.Errorf("Quote(%q) = %s reads back as %q (rest %q, ok %v)", v, q, got, rest, ok)
		}
	}
}

func FuzzQuoteReadsBackAsTheValueAndNothingElse(f *testing.F) {
	for _, s := range []string{"Spooler", "O'Brien", "a\u2019b", "\u2018\u2019\u201a\u201b'", "'';$(x)", "\xff\xfe'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		q := Quote(v)
		want := strings.ToValidUTF8(v, "\uFFFD")
		// Followed by more source, the literal must end exactly where
		// Quote's output ends: nothing of v leaks into the code after it.
		got, rest, ok := scanSingleQuoted(q + ",'next'")
		if !ok || got != want || rest != ",'next'" {
			t.Fatalf("Quote(%q) = %q reads back as %q, rest %q, ok %v", v, q, got, rest, ok)
		}
		if !utf8.ValidString(q) {
			t.Fatalf("Quote(%q) is not valid UTF-8", v)
		}
	})
}
