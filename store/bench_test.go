package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bulkInsert writes certs in batches of one transaction each: a benchmark
// fixture of 100,000 records in seconds instead of 100,000 fsyncs.
func bulkInsert(tb testing.TB, s *Store, certs []Cert) {
	tb.Helper()
	const batch = 5000
	for len(certs) > 0 {
		n := min(batch, len(certs))
		err := s.db.Update(func(tx *bolt.Tx) error {
			for _, c := range certs[:n] {
				if err := putJSON(boltTxn{tx}, bucketCerts, []byte(c.ID), c); err != nil {
					return err
				}
				if err := putIndex(boltTxn{tx}, c); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		certs = certs[n:]
	}
}

// fixturePEM is the size of a typical ECDSA leaf in PEM, so records weigh
// what real ones do.
var fixturePEM = "-----BEGIN CERTIFICATE-----\n" + strings.Repeat(strings.Repeat("A", 64)+"\n", 9) + "-----END CERTIFICATE-----\n"

// fixtureSerial spreads serials like random 128-bit ones, in openssl's form.
func fixtureSerial(i int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	return hex.EncodeToString(sum[:16])
}

// fleet returns n records as issued certificates weigh, in mixed states.
func fleet(n int) []Cert {
	now := time.Now()
	states := []State{StateActive, StateActive, StateActive, StateInactive, StateSuspended, StateRevoked}
	certs := make([]Cert, n)
	for i := range certs {
		certs[i] = Cert{
			ID: CertID(fixtureSerial(i), []byte("issuer")), Serial: fixtureSerial(i), CN: fmt.Sprintf("device-%06d", i),
			Issuer: "Gatehouse Issuing CA", NotBefore: now, NotAfter: now.Add(365 * 24 * time.Hour),
			Fingerprint: strings.Repeat("ab", 32), KeyType: "ecdsa-p256", State: states[i%len(states)],
			Source: SourceIssued, CreatedAt: now, CertPEM: fixturePEM,
		}
	}
	return certs
}

func BenchmarkList(b *testing.B) {
	const n = 100_000
	s, err := Open(filepath.Join(b.TempDir(), "gatehouse.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	certs := fleet(n)
	bulkInsert(b, s, certs)

	for name, q := range map[string]CertQuery{
		"page100":             {Limit: 100},
		"page100-state":       {Limit: 100, State: StateSuspended},
		"page100-rare-prefix": {Limit: 100, CNPrefix: "device-09999"},
		"all":                 {},
		"all-state":           {State: StateRevoked},
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := s.ListCerts(q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("resolve-prefix", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.ResolveSerial(certs[n/2].Serial[:10]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("states", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.States(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOpenAndReadIndex is the store's part of start-up with 100,000
// certificates: open the file and read every index entry (what the
// handshake snapshot is built from).
func BenchmarkOpenAndReadIndex(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "gatehouse.db")
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	bulkInsert(b, s, fleet(n))
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		count := 0
		if err := s.EachState(func(CertState) error { count++; return nil }); err != nil || count != n {
			b.Fatalf("%d states, %v", count, err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
