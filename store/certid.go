package store

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// CertID is a certificate's identity in the store: its serial (as
// pki.FormatSerial prints it), "/", and the first 16 hex digits of the
// SHA-256 of the issuer's DER-encoded name (x509.Certificate.RawIssuer).
// Serials are unique per issuer only (RFC 5280's issuer and serial number),
// so two CAs' certificates with the same serial are two records. The serial
// comes first so that a serial prefix is also a key prefix. The broker, which
// imports no project package, computes the same (broker/gate.go).
func CertID(serial string, rawIssuer []byte) string {
	sum := sha256.Sum256(rawIssuer)
	return serial + "/" + hex.EncodeToString(sum[:8])
}

// serialOfID is the serial part of a certificate ID.
func serialOfID(id string) string {
	serial, _, _ := strings.Cut(id, "/")
	return serial
}
