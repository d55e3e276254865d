package pki

import (
	"fmt"
	"slices"
	"strings"

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
// A suspend or revoke also moves the certificate's successors that were never
// used (see followers), each with its own audit record, so a renewal pending
// when the operator acts cannot bring the device back.
// Errors wrap ErrTransition (forbidden move), store.ErrNotFound, or
// store.ErrConflict (the state changed under us, e.g. from another process).
func (a *Authority) Transition(id string, to store.State, actor, reason string, dropped int) (store.Cert, error) {
	return a.move(id, move{to: to, cascade: true}, store.AuditRecord{Actor: actor, Reason: reason, Dropped: dropped})
}

// activate is the automatic first use: inactive -> active and nothing else.
// A handshake that read "inactive" must never undo what an operator did since
// (suspended -> active is the operator's reactivate), so the move is a
// compare-and-swap from inactive that fails with store.ErrConflict otherwise.
func (a *Authority) activate(id string) error {
	_, err := a.move(id, move{from: []store.State{store.StateInactive}, to: store.StateActive}, store.AuditRecord{Actor: "broker", Reason: "first use"})
	return err
}

// move is one asked state change.
type move struct {
	from    []store.State // the states the caller expects to leave; nil means any
	to      store.State
	cascade bool   // also move the successors never used (operator actions)
	spare   string // a revoke blocks no key with this SPKI hash (the successor's, on supersede)
}

// change is one committed state change, reported to OnChange once a.mu is released.
type change struct {
	c     store.Cert
	audit store.AuditRecord
}

// move runs transition and, once committed, OnChange for every change made.
func (a *Authority) move(id string, m move, audit store.AuditRecord) (store.Cert, error) {
	done, err := a.transition(id, m, audit)
	for _, ch := range done {
		a.opts.onChange(ch.c, ch.audit)
	}
	if err != nil {
		return store.Cert{}, err
	}
	return done[len(done)-1].c, nil
}

// transition does the locked part of a move and returns the changes
// committed, the asked one last. Successors move first: should the process
// stop half way, the device keeps its old certificate and no successor
// outlives what the operator did to it.
func (a *Authority) transition(id string, m move, audit store.AuditRecord) ([]change, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur, err := a.st.GetCert(id)
	if err != nil {
		return nil, err
	}
	if m.from != nil && !slices.Contains(m.from, cur.State) {
		return nil, fmt.Errorf("certificate %s is %s, not %s: %w", cur.Serial, cur.State, joinStates(m.from), store.ErrConflict)
	}
	if !CanTransition(cur.State, m.to) {
		return nil, fmt.Errorf("cannot move certificate %s from %s to %s: %s: %w",
			cur.Serial, cur.State, m.to, whyNot(cur.State, m.to), ErrTransition)
	}
	var done []change
	if m.cascade && (m.to == store.StateSuspended || m.to == store.StateRevoked) {
		followers, err := a.followers(cur, m.to)
		if err != nil {
			return nil, err
		}
		for _, f := range followers {
			why := string(m.to) + " with its predecessor " + cur.Serial
			if audit.Reason != "" {
				why += ": " + audit.Reason
			}
			ch, err := a.commitLocked(f, m.to, "", store.AuditRecord{Actor: audit.Actor, Reason: why})
			if err != nil {
				return done, fmt.Errorf("%s successor %s of %s: %w", m.to, f.Serial, cur.Serial, err)
			}
			done = append(done, ch)
		}
	}
	ch, err := a.commitLocked(cur, m.to, m.spare, audit)
	if err != nil {
		return done, err
	}
	return append(done, ch), nil
}

// commitLocked moves cur to state to in the store (a compare-and-swap from
// cur.State), blocking its key first on a revoke unless it is spare, and
// updates the snapshot. The caller holds a.mu and has checked the edge.
func (a *Authority) commitLocked(cur store.Cert, to store.State, spare string, audit store.AuditRecord) (change, error) {
	if to == store.StateRevoked {
		// Before the revocation: should it fail, the key is blocked and the
		// certificate refused anyway; the other order could leave a revoked
		// certificate whose key comes back under a new serial.
		h, err := a.blockKeyLocked(cur, spare)
		if err != nil {
			return change{}, err
		}
		if h != "" {
			audit.Detail = "public key " + h[:16] + " blocked under any serial"
		}
	}
	audit.At, audit.Action = a.opts.now(), transitions[edge{cur.State, to}]
	c, err := a.st.Transition(cur.ID, cur.State, to, audit)
	if err != nil {
		return change{}, err
	}
	e, err := entryOf(c)
	if err != nil {
		return change{}, err
	}
	e.rev = c.Revision
	a.snap.set(cur.ID, e)
	audit.Serial, audit.CertID, audit.CN, audit.From, audit.To = c.Serial, cur.ID, c.CN, cur.State, to
	return change{c, audit}, nil
}

// followers are the successors of c (records whose Renews is c's ID, so of
// its CN) that were never used and can move to state to: inactive ones, and
// on a revoke also those suspended with c before. The caller holds a.mu, so
// no successor is activated or registered while they are moved.
func (a *Authority) followers(c store.Cert, to store.State) ([]store.Cert, error) {
	certs, _, err := a.st.ListCerts(store.CertQuery{CNPrefix: c.CN})
	if err != nil {
		return nil, fmt.Errorf("successors of %s: %w", c.Serial, err)
	}
	var out []store.Cert
	for _, s := range certs {
		if s.Renews == c.ID && s.CN == c.CN && s.FirstSeen.IsZero() && s.State != to && CanTransition(s.State, to) &&
			(s.State == store.StateInactive || to == store.StateRevoked) {
			out = append(out, s)
		}
	}
	return out, nil
}

// joinStates lists states for an error message: "inactive or active".
func joinStates(states []store.State) string {
	parts := make([]string, len(states))
	for i, s := range states {
		parts[i] = string(s)
	}
	return strings.Join(parts, " or ")
}
