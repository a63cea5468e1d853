package filter

import (
	"strings"
	"unicode/utf8"
)

// ContainsFold is a case-insensitive strings.Contains that does not
// allocate for ASCII, which hostnames and sites almost always are: a
// filter runs over every item on every keystroke.
func ContainsFold(s, sub string) bool {
	if len(sub) == 0 {
		return true
	}
	if !isASCII(s) || !isASCII(sub) {
		return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
	}
	n := len(sub)
outer:
	for i := 0; i+n <= len(s); i++ {
		for j := 0; j < n; j++ {
			if lowerASCII(s[i+j]) != lowerASCII(sub[j]) {
				continue outer
			}
		}
		return true
	}
	return false
}

// HasPrefixFold is strings.HasPrefix ignoring case.
func HasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}
