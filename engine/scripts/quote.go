package scripts

import "strings"

// Quote returns s as a PowerShell single-quoted string literal: the one
// way a value (from the config, a user, a host) is placed into PowerShell
// source. Inside single quotes PowerShell expands nothing; the only way
// out is a quote character, and its tokenizer takes five of them as a
// single quote (System.Management.Automation.Language.CharExtensions
// IsSingleQuote): U+0027 and the typographic U+2018, U+2019, U+201A and
// U+201B. Each is doubled, which the tokenizer reads back as one. Invalid
// UTF-8 is replaced by U+FFFD first, so no byte sequence can decode into
// a quote on the host. Action parameters ($RmmParams) are a hashtable of
// such literals, which needs no .NET call (Constrained Language hosts).
func Quote(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return "'" + quoteDoubler.Replace(s) + "'"
}

// SingleQuotes are the characters PowerShell's tokenizer takes as a
// single quote.
const SingleQuotes = "'\u2018\u2019\u201a\u201b"

var quoteDoubler = strings.NewReplacer("'", "''", "\u2018", "\u2018\u2018", "\u2019", "\u2019\u2019",
	"\u201a", "\u201a\u201a", "\u201b", "\u201b\u201b")
