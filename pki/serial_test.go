package pki_test

import (
	"math/big"
	"testing"

	"github.com/gatehouse/gatehouse/pki"
)

func TestFormatSerialKeepsLeadingZeros(t *testing.T) {
	for name, tc := range map[string]struct {
		hex, want string
	}{
		"ok/even digits":         {"4673c77a", "4673c77a"},
		"ok/leading zero nibble": {"673c77a", "0673c77a"},
		"ok/openssl example":     {"04673C77AB", "04673c77ab"},
		"ok/zero":                {"0", "00"},
		"ok/high bit":            {"80", "80"},
		"ok/one nibble":          {"5", "05"},
	} {
		t.Run(name, func(t *testing.T) {
			n, ok := new(big.Int).SetString(tc.hex, 16)
			if !ok {
				t.Fatal("bad test serial")
			}
			if got := pki.FormatSerial(n); got != tc.want {
				t.Fatalf("FormatSerial(%s) = %q, want %q", tc.hex, got, tc.want)
			}
		})
	}
}
