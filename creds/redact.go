package creds

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// errWithheld replaces a backend error whose text quoted a secret.
var errWithheld = errors.New("backend error withheld because its text quoted the password")

// scrub returns err unchanged unless its text contains one of the secrets
// (raw, hex, base64 or JSON-escaped, the forms a backend might echo); then
// it returns errWithheld, keeping only the classification by ErrNotFound.
// It is the last line of defence: backends are not expected to quote
// values, but rmm must not trust that they never will.
func scrub(err error, secrets ...[]byte) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		if quotes(msg, s) {
			if errors.Is(err, ErrNotFound) {
				return errors.Join(ErrNotFound, errWithheld)
			}
			return errWithheld
		}
	}
	return err
}

// quoteWindow is the length of a run of secret bytes that counts as a
// quote: a backend that echoes part of a value (truncated, or escaped
// further on) still gives itself away.
const quoteWindow = 8

// minBareQuote is the shortest secret looked for bare in a message;
// shorter ones (test values, mostly) would match ordinary words, so they
// count only when quoted ("p", 'p').
const minBareQuote = 6

// quotes reports whether msg contains s, or any quoteWindow bytes of it,
// raw or in one of the forms a backend might print it (Go or JSON
// quoting, hex, base64). False positives only cost an error's details.
func quotes(msg string, s []byte) bool {
	if len(s) < minBareQuote {
		for _, q := range []string{strconv.Quote(string(s)), "'" + string(s) + "'", "`" + string(s) + "`"} {
			if strings.Contains(msg, q) {
				return true
			}
		}
		return false
	}
	forms := []string{string(s), strconv.Quote(string(s)), hex.EncodeToString(s)}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		forms = append(forms, enc.EncodeToString(s))
	}
	if q, err := json.Marshal(string(s)); err == nil {
		forms = append(forms, string(q))
	}
	var plain bytes.Buffer
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	if enc.Encode(string(s)) == nil {
		forms = append(forms, strings.TrimSpace(plain.String()))
	}
	lower := strings.ToLower(msg)
	for i, f := range forms {
		f = strings.Trim(f, `"`)
		if f == "" {
			continue
		}
		if i == 2 { // hex: either case
			if strings.Contains(lower, f) {
				return true
			}
			continue
		}
		if strings.Contains(msg, f) {
			return true
		}
	}
	if len(s) > quoteWindow {
		for i := 0; i+quoteWindow <= len(s); i++ {
			if strings.Contains(msg, string(s[i:i+quoteWindow])) {
				return true
			}
		}
	}
	return false
}
