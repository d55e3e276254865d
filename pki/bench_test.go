package pki_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

func BenchmarkIssueClient(b *testing.B) {
	a, _ := pkitest.New(b)
	for _, kt := range pki.KeyTypes {
		b.Run(string(kt), func(b *testing.B) {
			for b.Loop() {
				if _, err := a.IssueClient(pki.ClientRequest{KeyType: kt}, "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTransition measures one lifecycle change: read, rule check,
// compare-and-swap with audit in one fsynced bbolt transaction, snapshot swap.
func BenchmarkTransition(b *testing.B) {
	a, _ := pkitest.New(b)
	serial := certIn(b, a, store.StateActive)
	to := []store.State{store.StateSuspended, store.StateActive}
	i := 0
	for b.Loop() {
		if _, err := a.Transition(serial, to[i%2], "bench", "", 0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCheck is the handshake path for a known, active certificate:
// chain verification plus a snapshot read, no store access.
func BenchmarkCheck(b *testing.B) {
	a, _ := pkitest.New(b)
	iss := pkitest.Issue(b, a, "bench")
	chain := chainOf(b, pkitest.ClientTLS(b, iss))
	if err := authorize(a, chain); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := a.Check(chain); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkInitFleet is start-up's PKI part with 100,000 certificates in
// the store: CAs loaded and the handshake snapshot built from the
// certificate index.
func BenchmarkInitFleet(b *testing.B) {
	const n = 100_000
	_, st := pkitest.New(b)
	now := time.Now()
	for done := 0; done < n; done += 5000 {
		certs := make([]store.Cert, 5000)
		audits := make([]store.AuditRecord, 5000)
		for i := range certs {
			serial := fmt.Sprintf("%032x", done+i+1)
			certs[i] = store.Cert{ID: store.CertID(serial, []byte("issuer")), Serial: serial, CN: fmt.Sprintf("device-%06d", done+i),
				Issuer: "Gatehouse Issuing CA", State: store.StateActive, NotBefore: now, NotAfter: now.Add(time.Hour),
				Fingerprint: fmt.Sprintf("%064x", done+i), CertPEM: strings.Repeat("A", 800)}
			audits[i] = store.AuditRecord{Action: "bench"}
		}
		if err := st.CreateCerts(certs, audits); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := pki.Init(st); err != nil {
			b.Fatal(err)
		}
	}
}
