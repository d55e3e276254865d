// Package termsafe makes text that a device or a certificate chose safe to
// print on an operator's terminal. JSON output never goes through it: it stays
// exact, and the JSON encoder escapes control characters itself.
package termsafe

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean returns s with every control character, Unicode format character
// (bidi overrides, zero-width marks), line or paragraph separator and invalid
// UTF-8 byte replaced by a visible escape (\x1b, \u202e), so a CN or client ID
// cannot move the cursor, recolour the screen or reorder what an operator
// reads. Clean text is returned as is, without allocating.
func Clean(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case unsafeRune(r) && r < utf8.RuneSelf:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		s = s[size:]
	}
	return b.String()
}

func needsEscape(s string) bool {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if (r == utf8.RuneError && size == 1) || unsafeRune(r) {
			return true
		}
		s = s[size:]
	}
	return false
}

// unsafeRune reports C0 and C1 controls, DEL, format characters (Cf) and the
// line and paragraph separators.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}
