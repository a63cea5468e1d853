package winrmsim

import (
	"strings"
	"unicode/utf8"
)

// PowerShell's tokenizer takes five characters as a single quote
// (CharExtensions.IsSingleQuote): the ASCII one and the typographic
// U+2018, U+2019, U+201A and U+201B, which editors and chat programs put
// in pasted text. Inside a single-quoted string, one of them followed by
// another stands for the second; followed by anything else it ends the
// string. The simulator reads them the same way, so a value quoted only
// for the ASCII quote breaks out here as it would on Windows.

// singleQuoteLen returns the length in bytes of the single quote
// character at s[i], or 0 when there is none.
func singleQuoteLen(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	if s[i] == '\'' {
		return 1
	}
	if s[i] != 0xE2 {
		return 0
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	if r >= '\u2018' && r <= '\u201b' {
		return n
	}
	return 0
}

// scanSingleQuoted reads the single-quoted string starting at s[i] (a
// quote character) and returns its value and the index after its closing
// quote; ok is false when s[i] is no quote or the string does not end.
func scanSingleQuoted(s string, i int) (val string, end int, ok bool) {
	n := singleQuoteLen(s, i)
	if n == 0 {
		return "", i, false
	}
	var b strings.Builder
	for j := i + n; j < len(s); {
		if q := singleQuoteLen(s, j); q > 0 {
			q2 := singleQuoteLen(s, j+q)
			if q2 == 0 {
				return b.String(), j + q, true
			}
			b.WriteString(s[j+q : j+q+q2])
			j += q + q2
			continue
		}
		_, size := utf8.DecodeRuneInString(s[j:])
		b.WriteString(s[j : j+size])
		j += size
	}
	return "", len(s), false
}
