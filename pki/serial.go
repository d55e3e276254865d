package pki

import (
	"encoding/hex"
	"math/big"
)

// FormatSerial is a certificate serial as Gatehouse stores and prints it:
// the lowercase hex of the serial's big-endian bytes, two digits a byte, so
// leading zeros stay (openssl's digits, in lowercase: "04673c77..." where
// big.Int.Text(16) would drop the zero). It is the one formatting of serials;
// the broker, which imports no project package, repeats it (broker/gate.go).
func FormatSerial(n *big.Int) string {
	if n.Sign() == 0 {
		return "00"
	}
	return hex.EncodeToString(n.Bytes())
}
