package broker_test

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"testing"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// auditLog returns every audit record, newest first.
func (e *env) auditLog(tb testing.TB) []store.AuditRecord {
	tb.Helper()
	recs, err := e.a.Store().ListAudit(store.AuditQuery{})
	if err != nil {
		tb.Fatal(err)
	}
	return recs
}

// dialTLS runs one TLS handshake with cfg on mqtts and reads once, so that a
// TLS 1.3 client, which learns of a refusal only on its first read, is done.
func (e *env) dialTLS(cfg *tls.Config) {
	c, err := tls.Dial("tcp", e.addr[broker.TransportMQTTS], cfg)
	if err != nil {
		return
	}
	defer c.Close()
	var b [1]byte
	_, _ = c.Read(b[:])
}

// Presenting another device's certificate without its key (anyone who saw
// the certificate can: TLS 1.2 sends it in clear) must change nothing: no
// first-use activation, no auto-registration, no audit record.
func TestHandshakeWithoutTheKeyWritesNothing(t *testing.T) {
	e := newEnv(t, nil)
	devB, _ := e.issue(t, "devB")
	devC, serialC := e.issue(t, "devC")
	partner, partnerCA := pkitest.Foreign(t, "partner-device")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: partnerCA.Raw})
	if _, err := e.a.Trust(caPEM, false, "test"); err != nil { // auto-registers on first use
		t.Fatal(err)
	}
	partnerSerial := idOf(t, partner)

	for name, tc := range map[string]struct {
		cert   tls.Certificate
		serial string
	}{
		"ours/inactive":        {tls.Certificate{Certificate: devC.Certificate, PrivateKey: devB.PrivateKey}, serialC},
		"partner/unregistered": {tls.Certificate{Certificate: partner.Certificate, PrivateKey: devB.PrivateKey}, partnerSerial},
	} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(fmt.Sprintf("%s/%x", name, version), func(t *testing.T) {
				before := e.auditLog(t)
				stateBefore, knownBefore := e.a.State(tc.serial)
				cfg := e.tlsConfig(&tc.cert)
				cfg.ServerName = "localhost"
				cfg.MinVersion, cfg.MaxVersion = version, version
				refusals := len(e.ev.match(func(ev broker.Event) bool { return ev.Reason == pki.ReasonBadSignature && ev.CertID == tc.serial }))
				e.dialTLS(cfg)
				e.ev.wait(t, refusals+1, broker.EventRefused, pki.ReasonBadSignature, tc.serial)

				if after := e.auditLog(t); fmt.Sprint(after) != fmt.Sprint(before) {
					t.Fatalf("audit log changed:\nbefore %+v\nafter  %+v", before, after)
				}
				if st, known := e.a.State(tc.serial); st != stateBefore || known != knownBefore {
					t.Fatalf("state %q (known %v), was %q (known %v)", st, known, stateBefore, knownBefore)
				}
				if _, err := e.a.Store().GetCert(tc.serial); (err == nil) != knownBefore {
					t.Fatalf("store record: %v, known before %v", err, knownBefore)
				}
			})
		}
	}

	// With the key, the same certificates are recorded on first use.
	e.mustConnect(t, broker.TransportMQTTS, &devC, "devC")
	e.mustConnect(t, broker.TransportMQTTS, &partner, "partner")
	for _, serial := range []string{serialC, partnerSerial} {
		if st, _ := e.a.State(serial); st != store.StateActive {
			t.Fatalf("%s after a real first use: %q", serial, st)
		}
	}
	if c, err := e.a.Store().GetCert(partnerSerial); err != nil || c.Source != store.SourceAutoRegistered {
		t.Fatalf("partner certificate %+v, %v", c, err)
	}
}
