package pki

import (
	"fmt"
	"maps"

	"github.com/gatehouse/gatehouse/store"
)

// The key blocklist: revoking a certificate blocks its public key (by the
// SHA-256 of its SubjectPublicKeyInfo), so the device cannot come back with
// the same key under another serial, re-signed by an operator's CA or by us.
// The set is immutable once published and swapped whole, like the snapshot
// shards; it is read lock-free at every handshake.

// loadBlocked reads the blocklist from the store.
func (a *Authority) loadBlocked() error {
	keys, err := a.st.BlockedKeys()
	if err != nil {
		return err
	}
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k.SPKI] = true
	}
	a.blocked.Store(&set)
	return nil
}

// keyBlocked reports whether a DER SubjectPublicKeyInfo is on the blocklist.
func (a *Authority) keyBlocked(spki []byte) bool {
	return (*a.blocked.Load())[store.SPKIHash(spki)]
}

// blockKeyLocked puts the key of the stored certificate c on the blocklist
// and returns its hash, or "" when the key hashes to spare: a certificate
// superseded by a renewal that kept the device's key must not take that key,
// and so the successor, down with it. The caller holds a.mu and records the
// block in the audit record of the revocation.
func (a *Authority) blockKeyLocked(c store.Cert, spare string) (string, error) {
	leaf, err := parseCertPEM([]byte(c.CertPEM))
	if err != nil {
		return "", fmt.Errorf("block key of %s: %w", c.Serial, err)
	}
	h := store.SPKIHash(leaf.RawSubjectPublicKeyInfo)
	if h == spare {
		return "", nil
	}
	if a.keyBlocked(leaf.RawSubjectPublicKeyInfo) {
		return h, nil
	}
	if err := a.st.BlockKey(store.BlockedKey{SPKI: h, Serial: c.Serial, CN: c.CN, At: a.opts.now()}); err != nil {
		return "", err
	}
	set := maps.Clone(*a.blocked.Load())
	set[h] = true
	a.blocked.Store(&set)
	return h, nil
}

// refuseBlocked returns ErrKeyRevoked for a certificate or CSR key on the
// blocklist; what names it in the error.
func (a *Authority) refuseBlocked(spki []byte, what string) error {
	if a.keyBlocked(spki) {
		return fmt.Errorf("%s: %w: it belongs to a revoked certificate", what, ErrKeyRevoked)
	}
	return nil
}
