package pki

import (
	"fmt"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// PKCS12 packs a client's key, leaf and chain (the issuing intermediate from
// chainPEM, then the root from caPEM) into a password-protected PKCS#12 file
// for Java and Android keystores: PBES2 with AES-256-CBC and PBKDF2-SHA256
// (go-pkcs12's Modern2023), which keytool and OpenSSL 3 read.
func PKCS12(chainPEM, keyPEM, caPEM []byte, password string) ([]byte, error) {
	if len(keyPEM) == 0 {
		return nil, fmt.Errorf("%w: a PKCS#12 bundle needs the private key: a CSR-signed certificate has none here", ErrMalformed)
	}
	chain, err := parseCertsPEM(chainPEM)
	if err != nil {
		return nil, fmt.Errorf("PKCS#12: chain: %w", err)
	}
	roots, err := parseCertsPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("PKCS#12: CA: %w", err)
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("PKCS#12: %w", err)
	}
	der, err := pkcs12.Modern2023.Encode(key, chain[0], append(chain[1:], roots...), password)
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#12: %w", err)
	}
	return der, nil
}

// BundlePEM is one file for clients that take a single PEM: the leaf, its
// chain, then the private key.
func BundlePEM(chainPEM, keyPEM []byte) []byte {
	out := make([]byte, 0, len(chainPEM)+len(keyPEM))
	return append(append(out, chainPEM...), keyPEM...)
}
