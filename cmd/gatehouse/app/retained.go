package app

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse/store"
)

// PurgeRetained implements ui.Backend. The broker keeps retained messages in
// memory only, so without a running broker there are none to purge; the
// purge is audited either way, with how many went.
func (a *App) PurgeRetained(ctx context.Context, ref string) (int, error) {
	id, err := a.st.ResolveSerial(ref)
	if err != nil {
		return 0, fmt.Errorf("purge retained messages of %s: %w", ref, err)
	}
	c, err := a.st.GetCert(id)
	if err != nil {
		return 0, fmt.Errorf("purge retained messages of %s: %w", ref, err)
	}
	serial := c.Serial
	n := 0
	if br := a.broker(); br != nil {
		n = br.PurgeRetained(id)
	}
	_, err = a.st.AppendAudit(store.AuditRecord{At: a.now(), Actor: a.actorOf(ctx), Action: "cert.purge_retained",
		Serial: serial, CertID: id, CN: c.CN, Detail: fmt.Sprintf("%d retained %s deleted", n, plural(n, "message"))})
	if err != nil {
		return n, fmt.Errorf("audit purge of retained messages of %s: %w", serial, err)
	}
	return n, nil
}

// plural is word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
