package store

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
)

// certsByIssuerAndSerial is migration 2: serials in openssl's form (see
// serialsInOpensslForm), then every certificate record moved from its serial
// to its ID (serial and issuer, see CertID) with the "id" field set, and the
// "cert_id" of every audit record about a serial filled in when one
// certificate holds that serial. The issuer comes from the record's own
// certificate PEM; a record whose PEM does not parse stops the migration as
// ErrCorrupt (doctor then names it). Keys that are IDs already are left as
// they are, so a second run changes nothing.
func certsByIssuerAndSerial(t txn) error {
	if err := serialsInOpensslForm(t); err != nil {
		return err
	}
	type move struct{ from, to, raw []byte }
	var moves []move
	ids := map[string][]string{} // serial -> IDs, for the audit records
	err := forEach(t, bucketCerts, func(k, v []byte) error {
		if bytes.ContainsRune(k, '/') {
			ids[serialOfID(string(k))] = append(ids[serialOfID(string(k))], string(k))
			return nil
		}
		var head struct {
			CertPEM string `json:"cert_pem"`
		}
		if err := json.Unmarshal(v, &head); err != nil {
			return fmt.Errorf("certificate %q: %w: %v", k, ErrCorrupt, err)
		}
		block, _ := pem.Decode([]byte(head.CertPEM))
		if block == nil {
			return fmt.Errorf("certificate %q: %w: no certificate PEM to find its issuer", k, ErrCorrupt)
		}
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("certificate %q: %w: %v", k, ErrCorrupt, err)
		}
		id := CertID(string(k), leaf.RawIssuer)
		raw, err := withField(v, "id", id)
		if err != nil {
			return fmt.Errorf("certificate %q: %w", k, err)
		}
		moves = append(moves, move{append([]byte(nil), k...), []byte(id), raw})
		ids[string(k)] = append(ids[string(k)], id)
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range moves { // after the walk: a scan must not write
		if err := t.put(bucketCerts, m.to, m.raw); err != nil {
			return err
		}
		if err := t.del(bucketCerts, m.from); err != nil {
			return err
		}
	}
	var rewrites []move
	err = forEach(t, bucketAudit, func(k, v []byte) error {
		var head struct {
			Serial string `json:"serial"`
			CertID string `json:"cert_id"`
		}
		if err := json.Unmarshal(v, &head); err != nil {
			return fmt.Errorf("audit record %x: %w: %v", k, ErrCorrupt, err)
		}
		if head.CertID != "" || len(ids[head.Serial]) != 1 {
			return nil
		}
		raw, err := withField(v, "cert_id", ids[head.Serial][0])
		if err != nil {
			return fmt.Errorf("audit record %x: %w", k, err)
		}
		rewrites = append(rewrites, move{to: append([]byte(nil), k...), raw: raw})
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range rewrites {
		if err := t.put(bucketAudit, r.to, r.raw); err != nil {
			return err
		}
	}
	return nil
}
