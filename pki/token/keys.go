package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strconv"
)

// Algorithms are the only signature algorithms a token may use.
var Algorithms = []string{"ES256", "ES384", "RS256", "PS256", "EdDSA"}

// minRSABits refuses weak RSA keys at trust time.
const minRSABits = 2048

// Key is a public key trusted to sign tokens, pinned to one algorithm.
type Key struct {
	KID    string
	Alg    string
	Public crypto.PublicKey
}

// AlgFor returns the algorithm a key is pinned to: ES256 or ES384 by the
// curve, EdDSA for Ed25519, and for RSA the JWKS's alg when it says PS256,
// else RS256. Other keys (HMAC secrets, small RSA, other curves) are refused.
func AlgFor(pub crypto.PublicKey, declared string) (string, error) {
	var alg string
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			alg = "ES256"
		case elliptic.P384():
			alg = "ES384"
		default:
			return "", fmt.Errorf("EC curve %s is not supported (P-256 or P-384)", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits is too small (at least %d)", k.N.BitLen(), minRSABits)
		}
		alg = "RS256"
		if declared == "PS256" {
			alg = "PS256"
		}
	case ed25519.PublicKey:
		alg = "EdDSA"
	default:
		return "", fmt.Errorf("key type %T cannot sign tokens", pub)
	}
	if declared != "" && declared != alg {
		return "", fmt.Errorf("key declares alg %q but is a key for %s", declared, alg)
	}
	return alg, nil
}

// KeyID derives a key id from a public key: prefix, "-", and the first 16
// hex digits of the SHA-256 of its DER SubjectPublicKeyInfo.
func KeyID(prefix string, pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return prefix + "-" + hex.EncodeToString(sum[:8]), nil
}

// EncodePublic returns a public key as a PEM "PUBLIC KEY" block.
func EncodePublic(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// DecodePublic parses what EncodePublic wrote.
func DecodePublic(s string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("decode public key: no PUBLIC KEY block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("decode public key: %w", err)
	}
	return pub, nil
}

// ParseKeys reads the keys of an operator's token issuer: a JWKS document
// ({"keys":[...]}, each key's kid kept) or PEM "PUBLIC KEY" / "CERTIFICATE"
// blocks, whose kid is name (one key) or name-1, name-2, ... Private or
// symmetric keys are refused: trusting means verifying only.
func ParseKeys(data []byte, name string) ([]Key, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '{' {
		return parseJWKS(data)
	}
	var pubs []crypto.PublicKey
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "PUBLIC KEY":
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM key %d: %w", len(pubs)+1, err)
			}
			pubs = append(pubs, pub)
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM certificate %d: %w", len(pubs)+1, err)
			}
			pubs = append(pubs, cert.PublicKey)
		default:
			return nil, fmt.Errorf("PEM block %q: want PUBLIC KEY or CERTIFICATE (never a private key)", block.Type)
		}
	}
	if len(pubs) == 0 {
		return nil, errors.New("no keys: want a JWKS document or PEM public keys")
	}
	out := make([]Key, 0, len(pubs))
	for i, pub := range pubs {
		alg, err := AlgFor(pub, "")
		if err != nil {
			return nil, fmt.Errorf("PEM key %d: %w", i+1, err)
		}
		kid := name
		if len(pubs) > 1 {
			kid = name + "-" + strconv.Itoa(i+1)
		}
		out = append(out, Key{KID: kid, Alg: alg, Public: pub})
	}
	return out, nil
}

// jwk is one JSON Web Key, public members only.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
	D   string `json:"d"`
	K   string `json:"k"`
}

func parseJWKS(data []byte) ([]Key, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("JWKS: no keys")
	}
	var out []Key
	seen := map[string]bool{}
	for i, k := range set.Keys {
		if k.Kid == "" {
			return nil, fmt.Errorf("JWKS key %d: no kid", i+1)
		}
		if seen[k.Kid] {
			return nil, fmt.Errorf("JWKS key %d: kid %q twice", i+1, k.Kid)
		}
		seen[k.Kid] = true
		if k.Use != "" && k.Use != "sig" {
			continue // an encryption key never signs tokens
		}
		if k.D != "" || k.K != "" {
			return nil, fmt.Errorf("JWKS key %q holds private or symmetric key material: trust public keys only", k.Kid)
		}
		pub, err := k.public()
		if err != nil {
			return nil, fmt.Errorf("JWKS key %q: %w", k.Kid, err)
		}
		alg, err := AlgFor(pub, k.Alg)
		if err != nil {
			return nil, fmt.Errorf("JWKS key %q: %w", k.Kid, err)
		}
		out = append(out, Key{KID: k.Kid, Alg: alg, Public: pub})
	}
	if len(out) == 0 {
		return nil, errors.New("JWKS: no signing keys")
	}
	return out, nil
}

func (k jwk) public() (crypto.PublicKey, error) {
	switch k.Kty {
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		default:
			return nil, fmt.Errorf("EC curve %q is not supported (P-256 or P-384)", k.Crv)
		}
		x, err1 := b64int(k.X)
		y, err2 := b64int(k.Y)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		pub := &ecdsa.PublicKey{Curve: curve, X: x, Y: y}
		if _, err := pub.ECDH(); err != nil { // refuses points off the curve
			return nil, errors.New("EC point is not on the curve")
		}
		return pub, nil
	case "RSA":
		n, err1 := b64int(k.N)
		e, err2 := b64int(k.E)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 {
			return nil, errors.New("RSA exponent out of range")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, fmt.Errorf("OKP curve %q is not supported (Ed25519)", k.Crv)
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 x")
		}
		return ed25519.PublicKey(x), nil
	case "oct":
		return nil, errors.New("symmetric (oct) keys are refused: tokens must be signed asymmetrically")
	}
	return nil, fmt.Errorf("kty %q is not supported (EC, RSA or OKP)", k.Kty)
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("bad base64url number %q", s)
	}
	return new(big.Int).SetBytes(b), nil
}
