package pki

import (
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/store"
)

// FindTrusted resolves what an operator typed into an operator-trusted CA:
// its subject common name, its full subject, or a prefix of at least 6 hex
// characters of its ID. No match yields an error wrapping store.ErrNotFound;
// several an error listing them. Our own root and issuing CA never match.
func (a *Authority) FindTrusted(name string) (store.CA, error) {
	cas, err := a.st.ListCAs()
	if err != nil {
		return store.CA{}, fmt.Errorf("find CA %q: %w", name, err)
	}
	lower := strings.ToLower(name)
	var matches []store.CA
	for _, ca := range cas {
		if ca.Role != store.RoleTrusted {
			continue
		}
		cert, err := parseCertPEM([]byte(ca.CertPEM))
		if err != nil {
			return store.CA{}, fmt.Errorf("stored CA %s: %w", ca.ID, err)
		}
		if cert.Subject.CommonName == name || ca.Subject == name ||
			(len(lower) >= store.MinPrefix && strings.HasPrefix(ca.ID, lower)) {
			ca.KeyPEM = ""
			matches = append(matches, ca)
		}
	}
	switch len(matches) {
	case 0:
		return store.CA{}, fmt.Errorf("no operator-trusted CA named %q (see gatehouse ca list): %w", name, store.ErrNotFound)
	case 1:
		return matches[0], nil
	}
	ids := make([]string, len(matches))
	for i, ca := range matches {
		ids[i] = ca.ID[:16] + " " + ca.Subject
	}
	return store.CA{}, fmt.Errorf("CA name %q is ambiguous: matches %s; give its ID", name, strings.Join(ids, ", "))
}

// Untrust removes an operator-trusted CA, with an audit record: certificates
// it issued are refused from the next handshake on ("unknown CA"), and their
// records stay for the history. Dropping live sessions that relied on it is
// the caller's job (broker.Recheck).
func (a *Authority) Untrust(name, actor string) (store.CA, error) {
	ca, err := a.FindTrusted(name)
	if err != nil {
		return store.CA{}, fmt.Errorf("untrust CA: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	audit := store.AuditRecord{At: a.opts.now(), Actor: actor, Action: "ca.untrust", Detail: fmt.Sprintf("untrusted CA %q (%s)", ca.Subject, ca.ID[:16])}
	if err := a.st.DeleteCA(ca.ID, audit); err != nil {
		return store.CA{}, fmt.Errorf("untrust CA: %w", err)
	}
	if err := a.reloadTrust(); err != nil {
		return ca, fmt.Errorf("untrust CA: reload: %w", err)
	}
	return ca, nil
}

// SetStrict switches an operator-trusted CA between strict (only certificates
// imported beforehand are accepted) and auto-registering, with an audit
// record. Certificates already registered are not affected.
func (a *Authority) SetStrict(name string, strict bool, actor string) (store.CA, error) {
	ca, err := a.FindTrusted(name)
	if err != nil {
		return store.CA{}, fmt.Errorf("set CA strict: %w", err)
	}
	mode := "auto-register: unknown certificates are registered on first use"
	if strict {
		mode = "strict: imported certificates only"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	audit := store.AuditRecord{At: a.opts.now(), Actor: actor, Action: "ca.strict", Detail: fmt.Sprintf("CA %q is now %s", ca.Subject, mode)}
	updated, err := a.st.SetCAStrict(ca.ID, strict, audit)
	if err != nil {
		return store.CA{}, fmt.Errorf("set CA strict: %w", err)
	}
	if err := a.reloadTrust(); err != nil {
		return updated, fmt.Errorf("set CA strict: reload: %w", err)
	}
	return updated, nil
}
