package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// KeyType names a key algorithm for issued certificates.
type KeyType string

// Supported key types.
const (
	KeyECDSAP256 KeyType = "ecdsa-p256"
	KeyRSA2048   KeyType = "rsa-2048"
	KeyRSA3072   KeyType = "rsa-3072"
	KeyEd25519   KeyType = "ed25519"
)

// DefaultKeyType is used when no key type is asked for.
const DefaultKeyType = KeyECDSAP256

// KeyTypes lists the supported key types, default first.
var KeyTypes = []KeyType{KeyECDSAP256, KeyRSA2048, KeyRSA3072, KeyEd25519}

// DefaultClientTTL is the validity of a client certificate issued without a TTL.
const DefaultClientTTL = 365 * 24 * time.Hour

const (
	day      = 24 * time.Hour
	maxYears = 200
)

// ParseKeyType validates s; "" means DefaultKeyType.
func ParseKeyType(s string) (KeyType, error) {
	if s == "" {
		return DefaultKeyType, nil
	}
	for _, k := range KeyTypes {
		if KeyType(strings.ToLower(s)) == k {
			return k, nil
		}
	}
	names := make([]string, len(KeyTypes))
	for i, k := range KeyTypes {
		names[i] = string(k)
	}
	return "", fmt.Errorf("unknown key type %q: use one of %s", s, strings.Join(names, ", "))
}

// ParseTTL parses a certificate lifetime: Go durations in hours or minutes
// ("720h", "90m"), days ("90d") or years ("1y" = 365 days). "" means
// DefaultClientTTL. Zero and negative lifetimes are refused.
func ParseTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultClientTTL, nil
	}
	bad := fmt.Errorf("invalid TTL %q: use hours like 720h or days like 90d", s)
	var d time.Duration
	switch unit := s[len(s)-1]; unit {
	case 'd', 'y':
		// At most 65535 days or 200 years: beyond any CA, and no int64 overflow.
		n, err := strconv.ParseUint(s[:len(s)-1], 10, 16)
		if err != nil || (unit == 'y' && n > maxYears) {
			return 0, bad
		}
		d = time.Duration(n) * day
		if unit == 'y' {
			d *= 365
		}
	default:
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d <= 0 {
		return 0, bad
	}
	return d, nil
}

// generateKey makes a new private key of type kt from r.
func generateKey(kt KeyType, r io.Reader) (crypto.Signer, error) {
	switch kt {
	case KeyECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), r)
	case KeyRSA2048:
		return rsa.GenerateKey(r, 2048)
	case KeyRSA3072:
		return rsa.GenerateKey(r, 3072)
	case KeyEd25519:
		_, k, err := ed25519.GenerateKey(r)
		return k, err
	}
	return nil, fmt.Errorf("unknown key type %q", kt)
}

// keyTypeOf names the type of a public key, refusing types we do not issue for.
func keyTypeOf(pub crypto.PublicKey) (KeyType, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return KeyECDSAP256, nil
		}
		return "", fmt.Errorf("unsupported ECDSA curve %s: use P-256", k.Curve.Params().Name)
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return KeyRSA2048, nil
		case 3072:
			return KeyRSA3072, nil
		}
		return "", fmt.Errorf("unsupported RSA key size %d: use 2048 or 3072 bits", k.N.BitLen())
	case ed25519.PublicKey:
		return KeyEd25519, nil
	}
	return "", fmt.Errorf("unsupported public key type %T", pub)
}
