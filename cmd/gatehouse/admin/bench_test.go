package admin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// fillFleet stores n certificates as issued ones weigh (an 800-byte PEM) in
// transactions of 5,000.
func fillFleet(tb testing.TB, st *store.Store, n int) {
	tb.Helper()
	now := time.Now().Truncate(time.Second)
	for done := 0; done < n; done += 5000 {
		m := min(5000, n-done)
		certs := make([]store.Cert, m)
		audits := make([]store.AuditRecord, m)
		for i := range certs {
			serial := fmt.Sprintf("%032x", done+i+1)
			certs[i] = store.Cert{ID: store.CertID(serial, []byte("issuer")), Serial: serial, CN: fmt.Sprintf("device-%06d", done+i),
				Issuer: "Gatehouse Issuing CA", State: store.StateActive, NotBefore: now, NotAfter: now.Add(time.Duration(1+i%400) * 24 * time.Hour),
				Fingerprint: fmt.Sprintf("%064x", done+i), KeyType: "ecdsa-p256", Source: store.SourceIssued, CreatedAt: now,
				CertPEM: strings.Repeat("A", 800)}
			audits[i] = store.AuditRecord{Action: "bench"}
		}
		if err := st.CreateCerts(certs, audits); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkListFleet lists 100,000 certificates through the admin socket,
// as `cert list` does with a daemon running: "pages" decodes the streamed
// pages one at a time (EachCert), "json" copies the --json document as it
// arrives (WriteCertsJSON, what `cert list --json` prints).
func BenchmarkListFleet(b *testing.B) {
	const n = 100_000
	a, c := serve(b)
	fillFleet(b, a.Authority().Store(), n)
	b.Run("pages", func(b *testing.B) {
		for b.Loop() {
			count := 0
			err := c.EachCert(context.Background(), app.CertFilter{}, func(app.CertView) error { count++; return nil })
			if err != nil || count != n {
				b.Fatalf("%d certificates, %v", count, err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			var w countingWriter
			w.w = io.Discard
			if err := c.WriteCertsJSON(context.Background(), app.CertFilter{}, &w); err != nil || w.n < n*100 {
				b.Fatalf("%d bytes, %v", w.n, err)
			}
		}
	})
}
