package ui

import (
	"slices"
	"strings"
	"testing"
)

// Every revoke confirmation offers p: revoke, then purge the retained
// messages of that certificate, by its ID.
func TestRevokeOffersPurge(t *testing.T) {
	const revoke, purge = `Transition ` + dev1ID + ` revoked ""`, "PurgeRetained " + dev1ID
	tests := map[string]struct {
		start Page
		keys  []string
		calls []string
	}{
		"ok/certificates y revokes only":  {PageCertificates, []string{"x", "y"}, []string{revoke}},
		"ok/certificates p purges too":    {PageCertificates, []string{"x", "p"}, []string{revoke, purge}},
		"ok/home y revokes only":          {PageHome, []string{"j", "x", "y"}, []string{revoke}},
		"ok/home p purges too":            {PageHome, []string{"j", "x", "p"}, []string{revoke, purge}},
		"ok/command line y revokes only":  {PageHome, []string{":", "revoke dev1", "enter", "y"}, []string{"ResolveSerial dev1", revoke}},
		"ok/command line p purges too":    {PageHome, []string{":", "revoke dev1", "enter", "p"}, []string{"ResolveSerial dev1", revoke, purge}},
		"ok/p on the home suspend prompt": {PageHome, []string{"j", "s", "p"}, nil},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			m, _ := loaded(t, f, 100, 30, withStartPage(tt.start))
			press(m, tt.keys...)
			if got := f.Calls(); !slices.Equal(got, tt.calls) {
				t.Fatalf("calls = %q, want %q", got, tt.calls)
			}
			if len(tt.calls) == 0 {
				return
			}
			v := m.View()
			requireContains(t, v, "revoked dev1 (3f2a9c1b), dropped 2 sessions")
			if slices.Contains(tt.calls, purge) {
				requireContains(t, v, "purged 3 retained messages")
			} else {
				requireLacks(t, v, "purged")
			}
		})
	}
}

// A certificate created inside a git work tree says so in red, and the
// status line names the only copy of the key.
func TestCreatedSaysWhereTheKeyWent(t *testing.T) {
	tests := map[string]struct {
		warning string
		want    string
	}{
		"ok/plain":       {"", "only copy of the key: ./device-1/client.key"},
		"ok/in git tree": {"key written inside the git work tree /src", "warning: key written inside the git work tree /src"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			f.createWarning = tt.warning
			m, _ := loaded(t, f, 120, 30)
			press(m, "n", "enter")
			v := m.View()
			requireContains(t, v, tt.want)
			if tt.warning != "" {
				requireContains(t, v, "Warning: "+tt.warning)
				requireLacks(t, v, "error:")
			}
			if !strings.Contains(strings.Join(f.Calls(), "\n"), "CreateCert") {
				t.Fatalf("calls = %q", f.Calls())
			}
		})
	}
}
