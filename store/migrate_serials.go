package store

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// serialsInOpensslForm, the first half of migration 2, rewrites serials stored as big.Int.Text(16) printed
// them ("4673c77...", leading zero dropped) into the form openssl prints and
// this build stores ("04673c77...": two hex digits a byte). Certificate keys
// and their "serial" field, and the "serial" of every audit record, get the
// zero back; an even-length serial is already right, so a second run changes
// nothing. Records are rewritten as raw JSON so that no field is lost.
func serialsInOpensslForm(t txn) error {
	var odd [][]byte
	if err := forEach(t, bucketCerts, func(k, _ []byte) error {
		if len(k)%2 == 1 && !bytes.ContainsRune(k, '/') { // an ID holds a serial already fixed
			odd = append(odd, append([]byte(nil), k...))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range odd {
		fixed := append([]byte("0"), k...)
		taken, err := t.get(bucketCerts, fixed)
		if err != nil {
			return err
		}
		if taken != nil {
			return fmt.Errorf("certificate %s: %s is stored too", k, fixed)
		}
		old, err := t.get(bucketCerts, k)
		if err != nil {
			return err
		}
		raw, err := withField(old, "serial", string(fixed))
		if err != nil {
			return fmt.Errorf("certificate %s: %w", k, err)
		}
		if err := t.put(bucketCerts, fixed, raw); err != nil {
			return err
		}
		if err := t.del(bucketCerts, k); err != nil {
			return err
		}
	}
	type rewrite struct{ key, raw []byte }
	var rewrites []rewrite // written after the walk: a scan must not write
	err := forEach(t, bucketAudit, func(k, v []byte) error {
		var head struct {
			Serial string `json:"serial"`
		}
		if err := json.Unmarshal(v, &head); err != nil {
			return fmt.Errorf("audit record %x: %w: %v", k, ErrCorrupt, err)
		}
		if len(head.Serial)%2 == 0 {
			return nil
		}
		raw, err := withField(v, "serial", "0"+head.Serial)
		if err != nil {
			return fmt.Errorf("audit record %x: %w", k, err)
		}
		rewrites = append(rewrites, rewrite{append([]byte(nil), k...), raw})
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range rewrites {
		if err := t.put(bucketAudit, r.key, r.raw); err != nil {
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
