package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/store"
)

// followStore applies what other nodes commit to a shared (etcd) store
// until ctx ends: a suspend or revoke made through any node drops the
// device's sessions here too; an issuer suspended or a CA untrusted drops
// the sessions it now refuses; an auth switch and a policy edit apply here.
// This node's own changes come back through the watch as well; applying
// them again changes nothing. A change that needs a read etcd did not
// answer (or that this node refused, its probe finding etcd gone) is
// applied again when the watch delivers it again: it is never skipped. On a
// store file, which only this process writes, there is nothing to follow.
func (a *App) followStore(ctx context.Context) {
	err := a.st.Watch(ctx, func(changes []store.Change) error {
		policy, settings, blocked, cas, tokenKeys := false, false, false, false, false
		for _, ch := range changes {
			switch ch.Kind {
			case store.ChangedTokenSubject:
				a.applySubjectChange(ch)
			case store.ChangedTokenRevoked:
				a.applyRevokedChange(ch)
			case store.ChangedTokenKeys:
				tokenKeys = true
			case store.ChangedCert:
				a.applyCertChange(ch)
			case store.ChangedPolicy:
				policy = true
			case store.ChangedCA:
				cas = true
			case store.ChangedSettings:
				settings = true
			case store.ChangedBlockedKeys:
				blocked = true
			case store.ChangedAll:
				a.log.Warn("the store watch fell behind etcd's history: reloading every certificate")
				if err := a.unapplied("reload every certificate", a.applyAllCerts()); err != nil {
					return err // again: what the lost history held is known only through this reload
				}
				policy, settings, cas, tokenKeys, blocked = true, true, true, true, true
			}
		}
		var errs []error
		if cas {
			errs = append(errs, a.unapplied("apply another node's CA change", a.applyCAChange()))
			policy = true // ca:NAME rules name CAs
		}
		if blocked {
			errs = append(errs, a.unapplied("apply another node's key blocklist", a.ca.RefreshBlocked()))
		}
		if policy {
			errs = append(errs, a.unapplied("apply another node's policy", a.policyChange(func() error { return nil })))
		}
		if settings {
			errs = append(errs, a.unapplied("apply another node's client-cert auth", a.applyClientAuth()))
		}
		if tokenKeys {
			errs = append(errs, a.unapplied("apply another node's token key change", a.applyTokenKeys()))
		}
		return errors.Join(errs...)
	})
	if err != nil && !errors.Is(err, errors.ErrUnsupported) {
		a.log.Error("store watch stopped", "err", err)
	}
}

// unapplied logs why a watched change could not be applied and returns err
// when applying it again later can succeed: etcd did not answer a read,
// compacted the revision a long read was reading, or this node refused it
// while etcd seemed gone. Any other error is logged only: delivering the
// change again would fail the same way.
func (a *App) unapplied(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case store.Unanswered(err):
		a.log.Debug(what+": applied again when etcd answers", "err", err)
		return err
	default:
		a.log.Error(what, "err", err)
		return nil
	}
}

// applyCertChange applies one certificate record as a transaction wrote
// it, with no read of etcd, and, when the record is suspended or revoked and
// the snapshot did not hold that state, drops its sessions on this node.
// Applied in commit order, a suspend and a reactivation that both committed
// before this node heard of either still drop the sessions.
func (a *App) applyCertChange(ch store.Change) {
	if ch.Value == nil {
		return // deleted: only a migration deletes records, before any node serves
	}
	c, err := store.DecodeCert(ch)
	if err != nil {
		a.log.Error("apply another node's certificate change", "id", ch.Key, "err", err)
		return
	}
	was, now, err := a.ca.Apply(c)
	if err != nil {
		a.log.Error("apply another node's certificate change", "id", ch.Key, "err", err)
		return
	}
	a.certs.invalidate()
	if was != now && (now == store.StateSuspended || now == store.StateRevoked) {
		a.dropRefused(c.ID, now)
	}
}

// applyAllCerts reloads every certificate's state and drops the sessions of
// those another node suspended or revoked meanwhile.
func (a *App) applyAllCerts() error {
	refused, err := a.ca.RefreshAll()
	if err != nil {
		return err
	}
	a.certs.invalidate()
	for _, id := range refused {
		st, _ := a.ca.State(id)
		a.dropRefused(id, st)
	}
	return nil
}

// dropRefused drops this node's sessions of a certificate another node
// moved to state.
func (a *App) dropRefused(id string, state store.State) {
	if br := a.broker(); br != nil {
		if n := br.DropSerial(id, fmt.Sprintf("%s on another node", state)); n > 0 {
			a.log.Info("sessions dropped", "id", id, "state", state, "dropped", n)
		}
	}
}

// applyCAChange reloads the CAs and drops the sessions they now refuse.
func (a *App) applyCAChange() error {
	if err := a.ca.RefreshCAs(); err != nil {
		return err
	}
	a.certs.invalidate()
	if br := a.broker(); br != nil {
		if n := br.Recheck("CA changed on another node"); n > 0 {
			a.log.Info("sessions dropped", "cause", "CA changed on another node", "dropped", n)
		}
	}
	return nil
}

// applyClientAuth hands the running broker the stored client-cert auth
// modes, after another node switched one.
func (a *App) applyClientAuth() error {
	settings, err := a.st.Settings()
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	br := a.broker()
	if br == nil {
		return nil
	}
	a.modeMu.Lock()
	defer a.modeMu.Unlock()
	for _, t := range TLSTransports() {
		on, set := settings.ClientAuth[t]
		if !set {
			on = true // the default, as StartBroker applies it
		}
		if _, err := br.SetClientAuth(t, on); err != nil {
			return err
		}
		mode, set := settings.AuthModes[t]
		if !set {
			mode = broker.AuthCert
		}
		if cur := br.AuthMode(t); cur == "" || cur == mode {
			continue // unchanged, or a transport without credential modes
		}
		if n, err := br.SetAuthMode(t, mode); err != nil {
			return err
		} else if n > 0 {
			a.log.Info("sessions dropped", "cause", "auth mode "+mode+" on another node", "transport", t, "dropped", n)
		}
	}
	return nil
}

// applySubjectChange applies one token subject record as a transaction
// wrote it, with no read of etcd, and, when the record is newer than the
// snapshot's and the subject suspended or revoked, drops its sessions on
// this node: in commit order, as certificates (applyCertChange), so that a
// suspend and a reactivation that both committed before this node heard of
// either still drop them. Unlike a certificate's, a subject's state can
// reach the snapshot first through a reload this node made for its own
// change (a token issued, a key trusted), which drops nothing: so the
// record drops the sessions even when the state is the one the snapshot
// already held.
func (a *App) applySubjectChange(ch store.Change) {
	if ch.Value == nil {
		return // deleted: only a migration deletes records, before any node serves
	}
	rec, err := store.DecodeTokenSubject(ch)
	if err != nil {
		a.log.Error("apply another node's token subject change", "sub", ch.Key, "err", err)
		return
	}
	now, applied := a.ca.Tokens().ApplySubject(rec)
	if !applied || (now != store.StateSuspended && now != store.StateRevoked) {
		return
	}
	if br := a.broker(); br != nil {
		if n := br.DropSubject(rec.Subject, "token subject "+string(now)+" on another node"); n > 0 {
			a.log.Info("sessions dropped", "sub", rec.Subject, "state", now, "dropped", n)
		}
	}
}

// applyRevokedChange applies a token ID another node revoked, with no read
// of etcd, and drops this node's sessions holding that token, even when the
// snapshot held the jti already (a reload of this node's may have read it
// first, and a reload drops nothing). A deleted record is one pruned once
// its token expired: an expired token never verifies, so the jti stays in
// the snapshot until its next reload.
func (a *App) applyRevokedChange(ch store.Change) {
	if ch.Value == nil {
		return
	}
	a.ca.Tokens().ApplyRevoked(ch.Key)
	if br := a.broker(); br != nil {
		if n := br.DropTokenID(ch.Key, "token revoked on another node"); n > 0 {
			a.log.Info("sessions dropped", "jti", ch.Key, "dropped", n)
		}
	}
}

// applyTokenKeys reloads the token records after another node changed the
// trusted or signing keys (or the watch fell behind) and drops this node's
// sessions they now refuse: those whose token no longer verifies, or whose
// subject or jti the records read now refuse.
func (a *App) applyTokenKeys() error {
	if err := a.ca.Tokens().Refresh(); err != nil {
		return err
	}
	if br := a.broker(); br != nil {
		if n := br.RecheckTokens("token records changed on another node"); n > 0 {
			a.log.Info("sessions dropped", "cause", "token change on another node", "dropped", n)
		}
	}
	return nil
}

// startSessionRegistry opens the cluster's session registry under this
// node's lease, claims every client ID that connects here (observeClaim
// queues them from the first connect on; syncClaims writes them) and drops
// the local session of a client ID another node claims later: a device that
// reconnects through another node takes its session over. Outside cluster
// mode it does nothing. A registry etcd refuses is logged and opened again
// every registryRetry until it opens: the node serves meanwhile, without
// takeover, and its connects stay queued until then.
func (a *App) startSessionRegistry(ctx context.Context) {
	if a.node == "" {
		return
	}
	a.reclaim = make(chan struct{}, 1)
	open := func() (*store.SessionRegistry, error) {
		return a.st.Sessions(a.node, store.DefaultSessionTTL, func(*store.SessionRegistry) { a.askReclaim() })
	}
	reg, err := open()
	switch {
	case err == nil:
		a.serveRegistry(ctx, reg)
		return
	case errors.Is(err, errors.ErrUnsupported):
		a.stopClaims()
		return
	}
	a.log.Error("session registry not opened: no session takeover across nodes until it opens", "err", err)
	a.bg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(registryRetry):
			}
			if reg, err := open(); err == nil {
				a.log.Info("session registry opened")
				a.serveRegistry(ctx, reg)
				return
			}
		}
	})
}

// registryRetry is the pause between attempts to open the session registry.
const registryRetry = 2 * time.Second

// serveRegistry starts writing this node's claims to reg, announcing the
// node, following other nodes' claims and claiming again when asked.
func (a *App) serveRegistry(ctx context.Context, reg *store.SessionRegistry) {
	a.reg.Store(reg)
	a.bg.Go(func() { a.reclaimer(ctx, reg) })
	a.bg.Go(func() { a.syncClaims(ctx, reg) })
	// Announced at once, not a heartbeat later, so that a second process
	// started under this node's name finds the entry (ensureSoleNode).
	started := a.now()
	a.announce(reg, started)
	a.bg.Go(func() { a.heartbeat(ctx, reg, started) })
	a.bg.Go(func() {
		if err := reg.Watch(ctx, a.takeOver); err != nil {
			a.log.Error("session registry watch stopped", "err", err)
		}
	})
}

// askReclaim has this node's live sessions claimed again in the registry,
// after etcd answered again or the registry lost this node's lease (etcd
// unreachable for longer than its TTL). It never waits: the reclaimer runs
// on its own goroutine, so that neither the probe nor the lease keeper is
// held up by thousands of claims.
func (a *App) askReclaim() {
	if a.reclaim == nil {
		return // no registry
	}
	select {
	case a.reclaim <- struct{}{}:
	default: // one is due already: it reads the live sessions when it runs
	}
}

// reclaimer claims this node's sessions again each time askReclaim asks,
// until ctx ends.
func (a *App) reclaimer(ctx context.Context, reg *store.SessionRegistry) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.reclaim:
		}
		n, err := a.claimAll(ctx, reg)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, store.ErrUnreachable):
			// claimed again when etcd answers (probeEtcd asks)
			a.log.Warn("sessions claimed again in the registry until etcd stopped answering", "sessions", n, "err", err)
		case err != nil:
			// etcd answers the probe but not this: ask again in a while
			a.log.Warn("sessions claimed again in the registry until a write failed: trying again", "sessions", n, "err", err)
			time.AfterFunc(claimRetry, a.askReclaim)
		default:
			a.log.Info("sessions claimed again in the registry", "sessions", n)
		}
	}
}

// claimAll claims again, store.SessionBatch at a time, every client ID live
// here that no other node claimed meanwhile, drops the local session of
// those another node did, and returns how many it claimed. It stops at the
// first batch etcd refuses or does not answer, or when ctx ends: the next
// reachability change claims them again.
func (a *App) claimAll(ctx context.Context, reg *store.SessionRegistry) (int, error) {
	a.claims.mu.Lock()
	ids := make([]string, 0, len(a.claims.live))
	for id := range a.claims.live {
		ids = append(ids, id)
	}
	a.claims.mu.Unlock()
	done := 0
	for len(ids) > 0 && ctx.Err() == nil {
		batch := ids[:min(len(ids), store.SessionBatch)]
		ids = ids[len(batch):]
		rev, taken, err := reg.ReclaimAll(batch)
		if err != nil {
			return done, err
		}
		for id, owner := range taken {
			// The device reconnected through another node while this one
			// was cut off: that session is the newer one.
			a.kickTakenOver(id, owner)
		}
		a.claims.mu.Lock()
		for _, id := range batch {
			if _, live := a.claims.live[id]; live && taken[id] == "" {
				a.claims.rev[id] = max(a.claims.rev[id], rev)
			}
		}
		a.claims.mu.Unlock()
		done += len(batch) - len(taken)
	}
	return done, ctx.Err()
}

// takeOver drops this node's session of clientID when another node claimed
// it after this node did (see sessionClaims.rivalled).
func (a *App) takeOver(clientID, node string, rev int64) {
	if node != a.node && a.claims.rivalled(clientID, node, rev) {
		a.kickTakenOver(clientID, node)
	}
}

// kickTakenOver drops this node's session of clientID, which node took over.
func (a *App) kickTakenOver(clientID, node string) {
	if br := a.broker(); br != nil && br.Kick(clientID, "taken over by node "+node) {
		a.log.Info("session taken over", "client_id", clientID, "node", node)
	}
}
