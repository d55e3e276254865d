package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// serialsInOpensslForm, the first half of migration 2, rewrites serials stored as big.Int.Text(16) printed
// them ("4673c77...", leading zero dropped) into the form openssl prints and
// this build stores ("04673c77...": two hex digits a byte). Certificate keys
// and their "serial" field, and the "serial" of every audit record, get the
// zero back; an even-length serial is already right, so a second run changes
// nothing. Records are rewritten as raw JSON so that no field is lost.
func serialsInOpensslForm(tx *bolt.Tx) error {
	certs := tx.Bucket(bucketCerts)
	var odd [][]byte
	if err := certs.ForEach(func(k, _ []byte) error {
		if len(k)%2 == 1 && !bytes.ContainsRune(k, '/') { // an ID holds a serial already fixed
			odd = append(odd, append([]byte(nil), k...))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range odd {
		fixed := append([]byte("0"), k...)
		if certs.Get(fixed) != nil {
			return fmt.Errorf("certificate %s: %s is stored too", k, fixed)
		}
		raw, err := withField(certs.Get(k), "serial", string(fixed))
		if err != nil {
			return fmt.Errorf("certificate %s: %w", k, err)
		}
		if err := certs.Put(fixed, raw); err != nil {
			return err
		}
		if err := certs.Delete(k); err != nil {
			return err
		}
	}
	audit := tx.Bucket(bucketAudit)
	type rewrite struct{ key, raw []byte }
	var rewrites []rewrite // written after the walk: bbolt cursors do not survive writes
	c := audit.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var head struct {
			Serial string `json:"serial"`
		}
		if err := json.Unmarshal(v, &head); err != nil {
			return fmt.Errorf("audit record %x: %w: %v", k, ErrCorrupt, err)
		}
		if len(head.Serial)%2 == 0 {
			continue
		}
		raw, err := withField(v, "serial", "0"+head.Serial)
		if err != nil {
			return fmt.Errorf("audit record %x: %w", k, err)
		}
		rewrites = append(rewrites, rewrite{append([]byte(nil), k...), raw})
	}
	for _, r := range rewrites {
		if err := audit.Put(r.key, r.raw); err != nil {
			return err
		}
	}
	return nil
}

// withField returns the JSON object raw with field set to the string value
// and every other field as it was.
func withField(raw []byte, field, value string) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	s, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	fields[field] = s
	return json.Marshal(fields)
}
