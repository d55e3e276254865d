package pki

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/scrypt"
)

// CA private keys at rest.
//
// With a passphrase, every CA key is stored as one PEM block:
//
//	-----BEGIN GATEHOUSE ENCRYPTED CA KEY-----
//	Cipher: AES-256-GCM
//	KDF: scrypt
//	KDF-Params: N=32768,r=8,p=1
//	Nonce: <base64 of 12 random bytes>
//	Salt: <base64 of 16 random bytes>
//
//	<base64 of the AES-256-GCM ciphertext of the key's PKCS#8 DER>
//	-----END GATEHOUSE ENCRYPTED CA KEY-----
//
// The key-encryption key (KEK) is scrypt(passphrase, salt) with the recorded
// parameters; the GCM additional data is the CA's ID (the SHA-256 of its
// certificate), so a sealed key moved to another CA record does not open.
// All keys of a store share one salt, so a process derives the KEK once.
// The block type avoids the words "PRIVATE KEY": a scan of the store file for
// them finds only keys in the clear.

// Sentinel errors about sealed CA keys; match them with errors.Is.
var (
	// ErrPassphraseRequired means the stored CA keys are encrypted and no passphrase was given.
	ErrPassphraseRequired = errors.New("CA keys are encrypted and no passphrase was given")
	// ErrWrongPassphrase means the passphrase does not open the stored CA keys.
	ErrWrongPassphrase = errors.New("wrong CA passphrase")
	// ErrNotSealed means a passphrase was given but the stored CA keys are in the clear.
	ErrNotSealed = errors.New("CA keys are not encrypted, yet a passphrase was given")
	// ErrEmptyPassphrase means an empty passphrase was given.
	ErrEmptyPassphrase = errors.New("empty CA passphrase")
)

const (
	sealedKeyType = "GATEHOUSE ENCRYPTED CA KEY"
	clearKeyType  = "PRIVATE KEY"
	sealCipher    = "AES-256-GCM"
	sealKDF       = "scrypt"
	saltSize      = 16
)

// kdfParams are scrypt's cost parameters.
type kdfParams struct{ n, r, p int }

// defaultKDF is the cost new seals use: x/crypto/scrypt's recommendation for
// interactive use, 32 MiB and tens of milliseconds, paid once per process.
// It is recorded with every sealed key, so it can be raised later.
var defaultKDF = kdfParams{n: 1 << 15, r: 8, p: 1}

// maxKDFMemory bounds what a stored record may make scrypt allocate
// (128·N·r bytes), so a damaged record cannot exhaust an appliance's memory.
const maxKDFMemory = 1 << 30

func (k kdfParams) String() string { return fmt.Sprintf("N=%d,r=%d,p=%d", k.n, k.r, k.p) }

func parseKDFParams(s string) (kdfParams, error) {
	var k kdfParams
	if _, err := fmt.Sscanf(s, "N=%d,r=%d,p=%d", &k.n, &k.r, &k.p); err != nil || k.String() != s {
		return kdfParams{}, fmt.Errorf("bad KDF-Params %q", s)
	}
	if k.n < 2 || k.n&(k.n-1) != 0 || k.r < 1 || k.p < 1 || k.p > 16 || k.r > maxKDFMemory/128/k.n {
		return kdfParams{}, fmt.Errorf("KDF-Params %q out of range", s)
	}
	return k, nil
}

// kek is one key-encryption key, derived from the passphrase and a salt.
type kek struct {
	params kdfParams
	salt   []byte
	aead   cipher.AEAD
	// opened records that a stored key opened under this KEK: a later key
	// that does not was altered, rather than the passphrase being wrong.
	opened bool
}

// keyring seals and opens CA keys with KEKs derived from one passphrase,
// deriving each KEK once (scrypt is slow by design). It is safe for
// concurrent use.
type keyring struct {
	pass []byte
	mu   sync.Mutex
	keks []*kek
	// current is the KEK new keys are sealed under: the first one derived
	// (from the store's salt when opening keys, a fresh one when sealing).
	current *kek
}

func newKeyring(pass []byte) (*keyring, error) {
	if len(pass) == 0 {
		return nil, ErrEmptyPassphrase
	}
	return &keyring{pass: append([]byte(nil), pass...)}, nil
}

// derive returns the KEK for params and salt, deriving it on first use.
// The caller holds k.mu.
func (k *keyring) derive(params kdfParams, salt []byte) (*kek, error) {
	for _, c := range k.keks {
		if c.params == params && string(c.salt) == string(salt) {
			return c, nil
		}
	}
	raw, err := scrypt.Key(k.pass, salt, params.n, params.r, params.p, 32)
	if err != nil {
		return nil, fmt.Errorf("derive CA key-encryption key: %w", err)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("derive CA key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("derive CA key-encryption key: %w", err)
	}
	c := &kek{params: params, salt: append([]byte(nil), salt...), aead: aead}
	k.keks = append(k.keks, c)
	if k.current == nil {
		k.current = c
	}
	return c, nil
}

// seal encrypts a key's PKCS#8 DER for the CA with ID caID.
func (k *keyring) seal(caID string, der []byte) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.current
	if c == nil {
		salt := make([]byte, saltSize)
		rand.Read(salt)
		var err error
		if c, err = k.derive(defaultKDF, salt); err != nil {
			return "", err
		}
	}
	nonce := make([]byte, c.aead.NonceSize())
	rand.Read(nonce)
	block := &pem.Block{
		Type: sealedKeyType,
		Headers: map[string]string{
			"Cipher":     sealCipher,
			"KDF":        sealKDF,
			"KDF-Params": c.params.String(),
			"Salt":       base64.StdEncoding.EncodeToString(c.salt),
			"Nonce":      base64.StdEncoding.EncodeToString(nonce),
		},
		Bytes: c.aead.Seal(nil, nonce, der, []byte(caID)),
	}
	return string(pem.EncodeToMemory(block)), nil
}

// open decrypts a sealed key of the CA with ID caID to its PKCS#8 DER.
func (k *keyring) open(caID string, block *pem.Block) ([]byte, error) {
	h := block.Headers
	if h["Cipher"] != sealCipher || h["KDF"] != sealKDF {
		return nil, fmt.Errorf("%w: sealed key uses cipher %q and KDF %q, this gatehouse knows %s with %s",
			ErrMalformed, h["Cipher"], h["KDF"], sealCipher, sealKDF)
	}
	params, err := parseKDFParams(h["KDF-Params"])
	if err != nil {
		return nil, fmt.Errorf("%w: sealed key: %v", ErrMalformed, err)
	}
	salt, err := base64.StdEncoding.DecodeString(h["Salt"])
	if err != nil || len(salt) < saltSize {
		return nil, fmt.Errorf("%w: sealed key: bad Salt", ErrMalformed)
	}
	nonce, err := base64.StdEncoding.DecodeString(h["Nonce"])
	if err != nil {
		return nil, fmt.Errorf("%w: sealed key: bad Nonce", ErrMalformed)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	c, err := k.derive(params, salt)
	if err != nil {
		return nil, err
	}
	if len(nonce) != c.aead.NonceSize() {
		return nil, fmt.Errorf("%w: sealed key: bad Nonce", ErrMalformed)
	}
	der, err := c.aead.Open(nil, nonce, block.Bytes, []byte(caID))
	if err != nil {
		if c.opened {
			return nil, fmt.Errorf("%w: sealed key does not open with the passphrase that opens the others: it was altered or moved from another CA", ErrMalformed)
		}
		return nil, ErrWrongPassphrase
	}
	c.opened = true
	return der, nil
}
