package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/store"
)

// ResolveSerial implements Service: it turns what an operator typed for a
// certificate into its ID (store.CertID). A CN names the certificate when exactly one
// has it (ignoring case); several make a usage error listing them. Anything
// else is a serial or serial prefix, resolved by the store. The command
// line, the admin API and the TUI's ":" commands all resolve through here.
func (a *App) ResolveSerial(_ context.Context, query string) (string, error) {
	certs, err := a.certs.index(a.st)
	if err != nil {
		return "", err
	}
	if id, ok, err := ByCN(certs, query); ok || err != nil {
		return id, err
	}
	id, err := a.st.ResolveSerial(query)
	if err != nil && !errors.Is(err, store.ErrNotFound) && !isHexish(query) {
		return "", fmt.Errorf("no certificate with CN or serial %q: %w", query, store.ErrNotFound)
	}
	return id, err
}

// ByCN finds the ID of the certificate whose CN is cn, ignoring case and
// surrounding space. It reports false when none has it, and a UsageError
// wrapping an *AmbiguousCNError when several do.
func ByCN(certs []store.CertState, cn string) (id string, found bool, err error) {
	cn = strings.TrimSpace(cn)
	var hits []store.CertState
	for _, c := range certs {
		if strings.EqualFold(c.CN, cn) {
			hits = append(hits, c)
		}
	}
	switch len(hits) {
	case 0:
		return "", false, nil
	case 1:
		return hits[0].ID, true, nil
	}
	slices.SortFunc(hits, func(a, b store.CertState) int { return strings.Compare(a.Serial, b.Serial) })
	e := &AmbiguousCNError{CN: cn}
	for _, c := range hits {
		e.Candidates = append(e.Candidates, c.Serial+" ("+string(c.State)+")")
	}
	return "", false, UsageError{e}
}

// AmbiguousCNError says several certificates share a CN; Candidates names
// them by serial and state, so the operator can pick one.
type AmbiguousCNError struct {
	CN         string
	Candidates []string
}

func (e *AmbiguousCNError) Error() string {
	return fmt.Sprintf("CN %q names %d certificates: give a serial: %s", e.CN, len(e.Candidates), strings.Join(e.Candidates, ", "))
}

// isHexish reports whether s could be meant as a serial (hex, maybe with
// colons as openssl prints them), so the store's own error explains it.
func isHexish(s string) bool {
	s = strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	return s != "" && strings.Trim(strings.ToLower(s), "0123456789abcdef") == ""
}
