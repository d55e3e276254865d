package ui

import (
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/store"
)

// Two CAs may issue the same serial: the TUI tells the certificates apart
// by ID, so one's sessions never show under the other, and an action goes
// to the certificate selected.
func TestSameSerialOfAnotherCAIsAnotherCertificate(t *testing.T) {
	f := newFake()
	const otherID = "3f2a9c1b7d5e4a01/acacacacacacacac"
	m, _ := loaded(t, f, 120, 30, withStartPage(PageHome))
	withSnapshot(t, m, f, func(f *fakeBackend) {
		twin := f.snap.Certs[0]
		twin.ID, twin.CN, twin.Issuer = otherID, "acme-dev1", "Acme Devices CA"
		f.snap.Certs = append(f.snap.Certs, twin)
	})
	press(m, "j") // acme-dev1 sorts first
	requireContains(t, m.View(), "Sessions of acme-dev1 (0 live)")
	press(m, "s", "y")
	if calls := f.Calls(); !slices.Contains(calls, `Transition `+otherID+` suspended ""`) {
		t.Fatalf("calls = %q, want the twin suspended by its ID", calls)
	}
	press(m, "j")
	requireContains(t, m.View(), "Sessions of dev1 (2 live)")
	if c := f.snap.Certs[0]; c.State != store.StateActive {
		t.Fatalf("dev1 is %s after its twin was suspended", c.State)
	}
}
