package pki

import (
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/store"
)

// Sealed reports whether the CA keys are encrypted at rest, that is whether
// the Authority was initialised (or has since been re-sealed) with a passphrase.
func (a *Authority) Sealed() bool { return a.keys.Load() != nil }

// SetPassphrase encrypts every stored CA key, and the token signing key,
// under pass, replacing the current passphrase or the clear form, in one
// store transaction audited as ca.passphrase.set (keys were clear) or
// ca.passphrase.change. It returns how many CA keys it sealed (the token key
// is not counted). The new seal takes a fresh salt, so an old passphrase no
// longer opens anything. Old values remain in freed pages of the store
// file until store.Compact rewrites it.
func (a *Authority) SetPassphrase(pass []byte, actor string) (int, error) {
	next, err := newKeyring(pass)
	if err != nil {
		return 0, fmt.Errorf("set CA passphrase: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cas, err := a.st.ListCAs()
	if err != nil {
		return 0, fmt.Errorf("set CA passphrase: %w", err)
	}
	var changes []store.CAKeyChange
	for _, ca := range cas {
		if ca.KeyPEM == "" {
			continue // an operator-trusted CA: we hold no key
		}
		der, err := a.caKeyDER(ca)
		if err != nil {
			return 0, fmt.Errorf("set CA passphrase: %w", err)
		}
		sealed, err := next.seal(ca.ID, der)
		if err != nil {
			return 0, fmt.Errorf("set CA passphrase: %w", err)
		}
		changes = append(changes, store.CAKeyChange{ID: ca.ID, Old: ca.KeyPEM, New: sealed})
	}
	caKeys := len(changes)
	if own, err := a.st.OwnTokenKey(); err == nil {
		id := tokenKeySealID(own.KID)
		der, err := a.keyDER(id, own.PrivateKey, "token signing key "+own.KID)
		if err != nil {
			return 0, fmt.Errorf("set CA passphrase: %w", err)
		}
		sealed, err := next.seal(id, der)
		if err != nil {
			return 0, fmt.Errorf("set CA passphrase: %w", err)
		}
		changes = append(changes, store.CAKeyChange{TokenKID: own.KID, Old: own.PrivateKey, New: sealed})
	} else if !errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("set CA passphrase: %w", err)
	}
	action := "ca.passphrase.set"
	if a.keys.Load() != nil {
		action = "ca.passphrase.change"
	}
	audit := store.AuditRecord{At: a.opts.now(), Actor: actor, Action: action,
		Detail: fmt.Sprintf("%d CA keys and %d token signing keys encrypted with %s, key from %s %s", caKeys, len(changes)-caKeys, sealCipher, sealKDF, defaultKDF)}
	if err := a.st.ReplaceCAKeys(changes, audit); err != nil {
		return 0, fmt.Errorf("set CA passphrase: %w", err)
	}
	a.keys.Store(next)
	return caKeys, nil
}
