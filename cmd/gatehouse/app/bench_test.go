package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// BenchmarkSnapshot measures what the TUI asks for every refresh, with
// 10,000 certificates in the store.
func BenchmarkSnapshot(b *testing.B) {
	a, err := Open(Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	now := time.Now()
	pem := "-----BEGIN CERTIFICATE-----\n" + strings.Repeat("MIIB", 150) + "\n-----END CERTIFICATE-----\n"
	for i := range 10_000 {
		serial := fmt.Sprintf("%032x", i+1)
		c := store.Cert{ID: store.CertID(serial, []byte("issuer")), Serial: serial, CN: fmt.Sprintf("device-%d", i), State: store.StateActive,
			NotBefore: now, NotAfter: now.Add(time.Hour), Fingerprint: strings.Repeat("ab", 32), CertPEM: pem}
		if err := a.st.CreateCert(c, store.AuditRecord{Action: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Snapshot(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
