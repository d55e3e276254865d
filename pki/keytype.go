package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
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

// Key rules for every certificate Gatehouse accepts, issues, signs or trusts.
const (
	minRSABits = 2048
	// maxRSABits bounds the cost of one signature check a client can make us do.
	maxRSABits = 8192
)

// keyTypeOf names the type of a public key, refusing weak and unsupported
// ones: RSA below 2048 bits, curves other than P-256 and P-384, and any other
// algorithm. Keys we do not issue ourselves (RSA-4096, P-384) are named too.
// Errors wrap ErrWeakKey.
func keyTypeOf(pub crypto.PublicKey) (KeyType, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return KeyECDSAP256, nil
		case elliptic.P384():
			return "ecdsa-p384", nil
		}
		return "", fmt.Errorf("%w: ECDSA curve %s: use P-256, P-384 or Ed25519", ErrWeakKey, k.Curve.Params().Name)
	case *rsa.PublicKey:
		switch n := k.N.BitLen(); {
		case n < minRSABits:
			return "", fmt.Errorf("%w: RSA key of %d bits: at least %d", ErrWeakKey, n, minRSABits)
		case n > maxRSABits:
			return "", fmt.Errorf("%w: RSA key of %d bits: at most %d", ErrWeakKey, n, maxRSABits)
		default:
			return KeyType(fmt.Sprintf("rsa-%d", n)), nil
		}
	case ed25519.PublicKey:
		return KeyEd25519, nil
	}
	return "", fmt.Errorf("%w: public key type %T: use ECDSA P-256/P-384, Ed25519 or RSA 2048+", ErrWeakKey, pub)
}

// weakSignature reports signature algorithms refused everywhere: MD2, MD5 and
// SHA-1 (collisions are practical), and unknown ones.
func weakSignature(alg x509.SignatureAlgorithm) bool {
	switch alg {
	case x509.UnknownSignatureAlgorithm, x509.MD2WithRSA, x509.MD5WithRSA,
		x509.SHA1WithRSA, x509.DSAWithSHA1, x509.DSAWithSHA256, x509.ECDSAWithSHA1:
		return true
	}
	return false
}
