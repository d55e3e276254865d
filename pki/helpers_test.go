package pki_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// The broker codes against this interface; the Authority must keep satisfying it.
var _ broker.Authorizer = (*pki.Authority)(nil)

var allStates = []store.State{store.StateInactive, store.StateActive, store.StateSuspended, store.StateRevoked}

// reason extracts the operator-readable reason the broker would see.
func reason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	return ""
}

// authorize runs both halves of the decision the broker makes around a
// completed handshake: Check in VerifyConnection, then FirstUse.
func authorize(a *pki.Authority, chain []*x509.Certificate) error {
	if err := a.Check(chain); err != nil {
		return err
	}
	return a.FirstUse(chain)
}

// chainOf parses a TLS certificate's chain the way a TLS server presents it to VerifyConnection.
func chainOf(t testing.TB, c tls.Certificate) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for _, der := range c.Certificate {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cert)
	}
	return out
}

// certIn issues a certificate and drives it into state st.
func certIn(t testing.TB, a *pki.Authority, st store.State) string {
	t.Helper()
	serial := pkitest.Issue(t, a, "dev-"+string(st)).Cert.ID
	if st != store.StateInactive {
		if _, err := a.Transition(serial, st, "test", "setup", 0); err != nil {
			t.Fatal(err)
		}
	}
	return serial
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// idOf is the store ID (serial and issuer) of a certificate.
func idOf(c *x509.Certificate) string {
	return store.CertID(pki.FormatSerial(c.SerialNumber), c.RawIssuer)
}
