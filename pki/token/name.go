package token

import (
	"fmt"
	"strings"
)

// MaxNameLen bounds a subject or issuer name, in bytes.
const MaxNameLen = 256

// CheckName keeps a subject (and an issuer's name) printable and short: it
// reaches terminals, events and topic names (${sub}), so it may hold no
// control character and none of the MQTT wildcards and separator / + #.
// Verify applies it to every token's sub, whoever signed it.
func CheckName(s string) error {
	if s == "" || len(s) > MaxNameLen {
		return fmt.Errorf("a name must have 1 to %d bytes", MaxNameLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || strings.ContainsRune("/+#", r) {
			return fmt.Errorf("%q holds a control character or one of / + #", s)
		}
	}
	return nil
}
