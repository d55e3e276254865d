package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// bucketCertIndex holds, per certificate ID, the few fields that start-up
// and the enforcement caches read (state, not-after, CN, issuer,
// fingerprint) in a compact binary form: reading 100,000 of them costs a
// fraction of decoding the JSON records, whose PEM is most of their bytes.
// Every write of a certificate record writes its entry in the same
// transaction (putIndex), so the two never disagree; Verify checks it.
var bucketCertIndex = []byte("cert_index")

// The first byte of every entry says how it is laid out, so that a later
// layout can be told apart: the fingerprint as its 32 bytes (what every
// certificate's is: SHA-256 in lowercase hex) or, for anything else, as text.
const (
	indexFormat        = 1
	indexFormatTextFP  = 2
	fingerprintHexSize = 2 * sha256.Size
)

// errBadEntry is what a damaged index entry decodes to.
var errBadEntry = errors.New("bad certificate index entry")

// encodeEntry lays out the indexed fields of c: the format byte, NotAfter as
// Unix seconds (varint) and nanoseconds (uvarint), state, CN and issuer,
// each a uvarint length and its bytes, and last the fingerprint.
func encodeEntry(c Cert) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(c.State)+len(c.CN)+len(c.Issuer)+len(c.Fingerprint)+4*binary.MaxVarintLen32)
	fp, err := hex.DecodeString(c.Fingerprint)
	raw := err == nil && len(c.Fingerprint) == fingerprintHexSize && hex.EncodeToString(fp) == c.Fingerprint
	b = append(b, indexFormatTextFP)
	if raw {
		b[0] = indexFormat
	}
	b = binary.AppendVarint(b, c.NotAfter.Unix())
	b = binary.AppendUvarint(b, uint64(c.NotAfter.Nanosecond()))
	for _, s := range []string{string(c.State), c.CN, c.Issuer} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if raw {
		return append(b, fp...)
	}
	return append(b, c.Fingerprint...)
}

// entryReader decodes entries, interning the strings that repeat across
// certificates (states and issuer names) so that a full read allocates them
// once, not once per certificate.
type entryReader struct {
	interned map[string]string
}

func (r *entryReader) intern(b []byte) string {
	if s, ok := r.interned[string(b)]; ok { // no allocation: the compiler's map lookup by []byte
		return s
	}
	if r.interned == nil {
		r.interned = map[string]string{}
	}
	s := string(b)
	r.interned[s] = s
	return s
}

// decode reads the entry raw stored under id.
func (r *entryReader) decode(id, raw []byte) (CertState, error) {
	if len(raw) == 0 || (raw[0] != indexFormat && raw[0] != indexFormatTextFP) {
		return CertState{}, fmt.Errorf("%w %q: unknown format", errBadEntry, id)
	}
	p := raw[1:]
	sec, n := binary.Varint(p)
	if n <= 0 {
		return CertState{}, fmt.Errorf("%w %q: not-after", errBadEntry, id)
	}
	p = p[n:]
	nsec, n := binary.Uvarint(p)
	if n <= 0 || nsec >= uint64(time.Second) {
		return CertState{}, fmt.Errorf("%w %q: not-after", errBadEntry, id)
	}
	p = p[n:]
	var fields [3][]byte
	for i := range fields {
		l, n := binary.Uvarint(p)
		if n <= 0 || l > uint64(len(p)-n) {
			return CertState{}, fmt.Errorf("%w %q: truncated", errBadEntry, id)
		}
		fields[i], p = p[n:n+int(l)], p[n+int(l):]
	}
	fp := string(p)
	if raw[0] == indexFormat {
		if len(p) != sha256.Size {
			return CertState{}, fmt.Errorf("%w %q: fingerprint of %d bytes", errBadEntry, id, len(p))
		}
		var text [fingerprintHexSize]byte
		hex.Encode(text[:], p)
		fp = string(text[:]) // one allocation, where EncodeToString makes two
	}
	cs := CertState{
		ID:          string(id),
		State:       State(r.intern(fields[0])),
		NotAfter:    time.Unix(sec, int64(nsec)).UTC(),
		CN:          string(fields[1]),
		Issuer:      r.intern(fields[2]),
		Fingerprint: fp,
	}
	cs.Serial = serialOfID(cs.ID)
	return cs, nil
}

// putIndex writes c's index entry inside t, the transaction that writes c.
func putIndex(t txn, c Cert) error {
	if err := t.put(bucketCertIndex, []byte(c.ID), encodeEntry(c)); err != nil {
		return fmt.Errorf("write index entry: %w", err)
	}
	return nil
}

// buildCertIndex is migration 5: it creates the index and writes the entry
// of every certificate record. Entries are rewritten from the records, so a
// second run changes nothing. It writes one entry per certificate in the
// migration's single transaction, unbounded: only bbolt ever runs it on a
// populated store, since etcd stores are created at schema 5 or later and
// so never hold certificates at an older schema.
func buildCertIndex(t txn) error {
	if bt, ok := t.(boltTxn); ok {
		idx, err := bt.writable(bucketCertIndex)
		if err != nil {
			return fmt.Errorf("create bucket %s: %w", bucketCertIndex, err)
		}
		// The entries go in in key order: full pages instead of bbolt's
		// half-full default leave start-up half the pages to read. bbolt
		// keeps this handle for the transaction, so the puts below use it.
		idx.FillPercent = 0.95
	}
	var certs []Cert
	err := forEach(t, bucketCerts, func(k, v []byte) error {
		var c indexedFields
		if err := decode(v, &c, "certificate", k); err != nil {
			return err
		}
		c.ID = string(k)
		certs = append(certs, c.cert())
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range certs { // after the walk, which reads the records' pages in place
		if err := putIndex(t, c); err != nil {
			return fmt.Errorf("certificate %q: %w", c.ID, err)
		}
	}
	return nil
}

// indexedFields is the part of a record the index holds; decoding only it
// skips allocating the PEM.
type indexedFields struct {
	ID          string    `json:"-"`
	State       State     `json:"state"`
	NotAfter    time.Time `json:"not_after"`
	CN          string    `json:"cn"`
	Issuer      string    `json:"issuer"`
	Fingerprint string    `json:"fingerprint"`
}

func (f indexedFields) cert() Cert {
	return Cert{ID: f.ID, State: f.State, NotAfter: f.NotAfter, CN: f.CN, Issuer: f.Issuer, Fingerprint: f.Fingerprint}
}

// readIndex calls fn with every entry of the index, in ID order.
func readIndex(t txn, fn func(CertState) error) error {
	var r entryReader
	return forEach(t, bucketCertIndex, func(k, v []byte) error {
		cs, err := r.decode(k, v)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		return fn(cs)
	})
}

// checkIndex is Verify's comparison of the index with the records: every
// record has an entry holding its fields, and every entry a record.
func checkIndex(t txn) Finding {
	const what = "certificate index"
	if raw, err := t.get(bucketMeta, keySchema); err == nil {
		if v, _ := checkSchema(raw, ""); v > 0 && v < indexSchema {
			return Finding{Check: what, OK: true, Detail: fmt.Sprintf("not built yet: the migration to schema %d builds it", indexSchema)}
		}
	}
	if bt, ok := t.(boltTxn); ok && bt.tx.Bucket(bucketCertIndex) == nil {
		return Finding{Check: what, Detail: fmt.Sprintf("bucket %q is missing", bucketCertIndex)}
	}
	var problems []string
	bad, n := 0, 0
	note := func(format string, args ...any) {
		if bad++; bad <= maxProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	var r entryReader
	err := forEach(t, bucketCerts, func(k, v []byte) error {
		n++
		var f indexedFields
		if err := decode(v, &f, "certificate", k); err != nil {
			return nil // the certificates check reports it
		}
		f.ID = string(k)
		raw, err := t.get(bucketCertIndex, k)
		if err != nil {
			return err
		}
		if raw == nil {
			note("%q has no entry", k)
			return nil
		}
		got, err := r.decode(k, raw)
		if err != nil {
			note("%v", err)
			return nil
		}
		var diffs []string
		for _, d := range [][3]string{
			{"state", string(got.State), string(f.State)},
			{"not-after", got.NotAfter.Format(time.RFC3339Nano), f.NotAfter.UTC().Format(time.RFC3339Nano)},
			{"CN", got.CN, f.CN},
			{"issuer", got.Issuer, f.Issuer},
			{"fingerprint", got.Fingerprint, f.Fingerprint},
		} {
			if d[1] != d[2] {
				diffs = append(diffs, fmt.Sprintf("%s %q where the record has %q", d[0], d[1], d[2]))
			}
		}
		if len(diffs) > 0 {
			note("%q: the entry says %s", k, strings.Join(diffs, ", "))
		}
		return nil
	})
	if err == nil {
		err = forEach(t, bucketCertIndex, func(k, _ []byte) error {
			raw, err := t.get(bucketCerts, k)
			if err == nil && raw == nil {
				note("entry %q has no record", k)
			}
			return err
		})
	}
	switch {
	case err != nil:
		return Finding{Check: what, Detail: err.Error()}
	case bad > 0:
		return Finding{Check: what, Detail: fmt.Sprintf("%d of %d disagree with the records: %s", bad, n, joinProblems(problems, bad))}
	}
	return Finding{Check: what, OK: true, Detail: fmt.Sprintf("%d entries agree with the records", n)}
}

// indexSchema is the schema version that introduced the index.
const indexSchema = 5
