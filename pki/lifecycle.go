package pki

import (
	"fmt"

	"github.com/gatehouse/gatehouse/store"
)

type edge struct{ from, to store.State }

// transitions is the lifecycle of DESIGN.md section 3, and the only place it
// is encoded: every allowed move, mapped to the audit action it records.
// inactive -> active happens automatically at the first verified handshake;
// the others are operator actions. Revoked is final.
var transitions = map[edge]string{
	{store.StateInactive, store.StateActive}:    "cert.activate",
	{store.StateInactive, store.StateSuspended}: "cert.suspend",
	{store.StateInactive, store.StateRevoked}:   "cert.revoke",
	{store.StateActive, store.StateSuspended}:   "cert.suspend",
	{store.StateActive, store.StateRevoked}:     "cert.revoke",
	{store.StateSuspended, store.StateActive}:   "cert.reactivate",
	{store.StateSuspended, store.StateRevoked}:  "cert.revoke",
}

// CanTransition reports whether the lifecycle allows moving from one state to another.
func CanTransition(from, to store.State) bool {
	_, ok := transitions[edge{from, to}]
	return ok
}

// whyNot explains a refused move to an operator.
func whyNot(from, to store.State) string {
	switch {
	case from == store.StateRevoked:
		return "revoked is final"
	case from == to:
		return "it is already " + string(from)
	case to == store.StateInactive:
		return "a certificate never returns to inactive"
	}
	return "not a lifecycle state change"
}

// Transition moves the certificate with ID id (store.CertID) to state to, if
// the lifecycle allows it from
// its current state: one compare-and-swap in the store with an audit record
// (actor, reason, sessions dropped), then the snapshot swap, then OnChange.
// Errors wrap ErrTransition (forbidden move), store.ErrNotFound, or
// store.ErrConflict (the state changed under us, e.g. from another process).
func (a *Authority) Transition(id string, to store.State, actor, reason string, dropped int) (store.Cert, error) {
	return a.move(id, "", to, store.AuditRecord{Actor: actor, Reason: reason, Dropped: dropped})
}

// activate is the automatic first use: inactive -> active and nothing else.
// A handshake that read "inactive" must never undo what an operator did since
// (suspended -> active is the operator's reactivate), so the move is a
// compare-and-swap from inactive that fails with store.ErrConflict otherwise.
func (a *Authority) activate(id string) error {
	_, err := a.move(id, store.StateInactive, store.StateActive, store.AuditRecord{Actor: "broker", Reason: "first use"})
	return err
}

// move runs transition and, once committed, OnChange.
func (a *Authority) move(id string, from, to store.State, audit store.AuditRecord) (store.Cert, error) {
	c, audit, err := a.transition(id, from, to, audit)
	if err != nil {
		return store.Cert{}, err
	}
	a.opts.onChange(c, audit)
	return c, nil
}

// transition does the locked part of a move and returns the audit record
// written. A non-empty from is the state the caller expects to leave.
func (a *Authority) transition(id string, from, to store.State, audit store.AuditRecord) (store.Cert, store.AuditRecord, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur, err := a.st.GetCert(id)
	if err != nil {
		return store.Cert{}, audit, err
	}
	if from != "" && cur.State != from {
		return store.Cert{}, audit, fmt.Errorf("certificate %s is %s, not %s: %w", cur.Serial, cur.State, from, store.ErrConflict)
	}
	action, ok := transitions[edge{cur.State, to}]
	if !ok {
		return store.Cert{}, audit, fmt.Errorf("cannot move certificate %s from %s to %s: %s: %w",
			cur.Serial, cur.State, to, whyNot(cur.State, to), ErrTransition)
	}
	if to == store.StateRevoked {
		// Before the revocation: should it fail, the key is blocked and the
		// certificate refused anyway; the other order could leave a revoked
		// certificate whose key comes back under a new serial.
		h, err := a.blockKeyLocked(cur)
		if err != nil {
			return store.Cert{}, audit, err
		}
		audit.Detail = "public key " + h[:16] + " blocked under any serial"
	}
	audit.At, audit.Action = a.opts.now(), action
	c, err := a.st.Transition(id, cur.State, to, audit)
	if err != nil {
		return store.Cert{}, audit, err
	}
	e, err := entryOf(c)
	if err != nil {
		return store.Cert{}, audit, err
	}
	a.snap.set(id, e)
	audit.Serial, audit.CertID, audit.CN, audit.From, audit.To = c.Serial, id, c.CN, cur.State, to
	return c, audit, nil
}
