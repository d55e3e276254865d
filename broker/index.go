package broker

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Disconnect causes the broker produces itself. DropSerial callers pass their
// own ("suspended", "revoked").
const (
	CauseMTLSOn       = "mtls switched on"
	CauseExpired      = "expired"
	CauseClientClosed = "client closed"
	CauseKeepalive    = "keepalive timeout"
	CauseTakenOver    = "taken over"
	CauseStopped      = "server stopped"
)

// dropParallel bounds the goroutines one drop uses: a DISCONNECT write and a
// TLS close_notify each wait on their client's socket.
const dropParallel = 32

// index is the certificate -> sessions index mochi lacks, keyed by the
// certificate's ID (serial and issuer, see Session.CertID). Every field is guarded
// by mu, which is never held while emitting or while writing to a socket.
type index struct {
	mu       sync.Mutex
	byCert   map[string]map[*peer]struct{} // "" holds sessions without a certificate
	byClient map[string]*peer              // client ID -> its live session
	bySub    map[string]map[*peer]struct{} // token subject -> its sessions with a token
	stopping bool
}

func newIndex() index {
	return index{byCert: map[string]map[*peer]struct{}{}, byClient: map[string]*peer{}, bySub: map[string]map[*peer]struct{}{}}
}

// addLocked puts p in the index.
func (x *index) addLocked(p *peer) {
	set := x.byCert[p.certID]
	if set == nil {
		set = map[*peer]struct{}{}
		x.byCert[p.certID] = set
	}
	set[p] = struct{}{}
	if p.sub != "" {
		subs := x.bySub[p.sub]
		if subs == nil {
			subs = map[*peer]struct{}{}
			x.bySub[p.sub] = subs
		}
		subs[p] = struct{}{}
	}
	x.byClient[p.clientID] = p
	p.live, p.registered = true, true
}

// removeLocked takes p out of the index; it reports whether p was in it.
func (x *index) removeLocked(p *peer) bool {
	if !p.live {
		return false
	}
	p.live = false
	if x.byClient[p.clientID] == p {
		delete(x.byClient, p.clientID)
	}
	set := x.byCert[p.certID]
	delete(set, p)
	if len(set) == 0 {
		delete(x.byCert, p.certID)
	}
	if subs := x.bySub[p.sub]; subs != nil {
		delete(subs, p)
		if len(subs) == 0 {
			delete(x.bySub, p.sub)
		}
	}
	return true
}

// takeLocked removes the sessions match selects, records cause on each,
// silences them (below) and returns the clients still open, for disconnect
// once mu is released.
func (x *index) takeLocked(set map[*peer]struct{}, match func(*peer) bool, cause string) []*mqtt.Client {
	var out []*mqtt.Client
	for p := range set {
		if !match(p) {
			continue
		}
		x.removeLocked(p)
		if p.cause == "" {
			p.cause = cause
		}
		silence(p)
		if !p.cl.Closed() {
			out = append(out, p.cl)
		}
	}
	return out
}

// silence makes an administrative drop final the moment it is decided, not
// when the socket closes (up to disconnectGrace later): the session's will is
// cleared, so a suspended device's last will is never published (mochi checks
// the flag atomically before sending one, delayed wills included), and every
// packet the client sends from now on is rejected unread.
func silence(p *peer) {
	p.dropped.Store(true)
	atomic.StoreUint32(&p.cl.Properties.Will.Flag, 0)
}

// DropSerial closes every live session of the certificate with ID id
// (Session.CertID: serial and issuer, so another CA's certificate with the
// same serial is untouched) with
// DISCONNECT 0x98 (administrative action) and returns how many it closed.
// Each session's disconnected event carries cause. It returns once the
// sockets are closed. Call it after the Authorizer's state has changed, so a
// connect racing with it is refused by the gate hook; never call it from a
// mochi hook.
func (b *Broker) DropSerial(id, cause string) int {
	if id == "" {
		return 0
	}
	return b.dropAll(func(x *index) map[*peer]struct{} { return x.byCert[id] }, cause)
}

// dropAll closes every session of the index set that set picks (read under
// the index lock) with DISCONNECT 0x98 and returns how many it closed: what
// DropSerial and DropSubject share.
func (b *Broker) dropAll(set func(*index) map[*peer]struct{}, cause string) int {
	b.idx.mu.Lock()
	victims := b.idx.takeLocked(set(&b.idx), func(*peer) bool { return true }, cause)
	b.idx.mu.Unlock()
	b.disconnect(victims, packets.ErrAdministrativeAction)
	return len(victims)
}

// Recheck runs Authorizer.Check again on the certificate chain of every live
// session, as presented at its handshake, and drops with DISCONNECT 0x98 the
// sessions it now refuses; each disconnected event carries cause and the
// refusal reason. It returns how many it dropped. Call it after a change that
// can refuse certificates without changing their state, such as untrusting a
// CA; never from a mochi hook.
func (b *Broker) Recheck(cause string) int {
	b.idx.mu.Lock()
	var live []*peer
	for id, set := range b.idx.byCert {
		if id == "" {
			continue
		}
		for p := range set {
			live = append(live, p)
		}
	}
	b.idx.mu.Unlock()
	// Check verifies chains: run it without the index mutex, so connects go on.
	refused := map[*peer]string{}
	for _, p := range live {
		if err := b.cfg.Authorizer.Check(p.chain); err != nil {
			refused[p] = cause + ": " + reasonOf(err)
		}
	}
	var victims []*mqtt.Client
	b.idx.mu.Lock()
	for p, why := range refused {
		victims = append(victims, b.idx.takeLocked(map[*peer]struct{}{p: {}}, func(p *peer) bool { return p.live }, why)...)
	}
	b.idx.mu.Unlock()
	b.disconnect(victims, packets.ErrAdministrativeAction)
	return len(victims)
}

// SessionCount returns the number of live sessions of the certificate with
// ID id (Session.CertID); SessionCount("") counts the sessions without a
// certificate.
func (b *Broker) SessionCount(id string) int {
	b.idx.mu.Lock()
	defer b.idx.mu.Unlock()
	return len(b.idx.byCert[id])
}

// Sessions returns a snapshot of the live sessions, oldest first.
func (b *Broker) Sessions() []Session {
	b.idx.mu.Lock()
	var out []Session
	for _, set := range b.idx.byCert {
		for p := range set {
			out = append(out, p.session())
		}
	}
	b.idx.mu.Unlock()
	slices.SortFunc(out, func(a, c Session) int { return a.ConnectedAt.Compare(c.ConnectedAt) })
	return out
}

// ClientAuth reports whether client-cert auth is on for a transport; always
// false for plain MQTT and unknown names.
func (b *Broker) ClientAuth(transport string) bool {
	m, ok := b.modes[transport]
	return ok && m.Load()
}

// SetClientAuth switches client-cert auth for a TLS transport without
// restarting its listener. Switching it on drops every session on that
// transport without the credential its auth mode requires (a verified
// certificate in mode cert) and returns how many; switching it off affects
// only new handshakes. Persisting the mode is the caller's job.
func (b *Broker) SetClientAuth(transport string, on bool) (int, error) {
	m, ok := b.modes[transport]
	if !ok {
		return 0, fmt.Errorf("set client auth on %q: not a TLS transport (want %s, %s or %s)", transport, TransportMQTTS, TransportWSS, TransportHTTPS)
	}
	// Store before taking mu: a session registering after this drop finds the
	// mode on and refuses itself; one registered before is dropped here.
	m.Store(on)
	if !on {
		return 0, nil
	}
	return b.evictNoncompliant(transport, CauseMTLSOn), nil
}

// sweepExpired drops the sessions whose certificate or token has expired
// by now.
func (b *Broker) sweepExpired(now time.Time) int {
	var victims []*mqtt.Client
	b.idx.mu.Lock()
	for serial, set := range b.idx.byCert {
		if serial == "" {
			continue
		}
		victims = append(victims, b.idx.takeLocked(set, func(p *peer) bool { return now.After(p.notAfter) }, CauseExpired)...)
	}
	for _, set := range b.idx.bySub {
		victims = append(victims, b.idx.takeLocked(set, func(p *peer) bool { return now.After(p.tokenExp) }, CauseTokenExpired)...)
	}
	b.idx.mu.Unlock()
	b.disconnect(victims, packets.ErrAdministrativeAction)
	return len(victims)
}

// expiryLoop runs sweepExpired every ExpiryCheck until Close.
func (b *Broker) expiryLoop() {
	defer b.bg.Done()
	t := time.NewTicker(b.expiryCheck)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case now := <-t.C:
			b.sweepExpired(now)
		}
	}
}

// disconnectGrace bounds how long a DISCONNECT may wait for a client that
// does not read its socket: mochi writes it under the client's lock with no
// deadline, so without a bound a stalled client would hold a suspend (and
// Close) forever while it kept publishing.
const disconnectGrace = time.Second

// drop sends code to cl and closes the connection, at the latest after
// disconnectGrace: closing the socket unblocks a stalled write.
func (b *Broker) drop(cl *mqtt.Client, code packets.Code) {
	t := time.AfterFunc(disconnectGrace, func() { cl.Stop(code) })
	defer t.Stop()
	_ = b.server.DisconnectClient(cl, code)
}

// disconnect drops each client, from the caller's goroutine and a few
// helpers it waits for: never from inside a mochi hook.
func (b *Broker) disconnect(cls []*mqtt.Client, code packets.Code) {
	if len(cls) == 0 {
		return
	}
	next := make(chan *mqtt.Client)
	var wg sync.WaitGroup
	for range min(len(cls), dropParallel) {
		wg.Go(func() {
			for cl := range next {
				b.drop(cl, code)
			}
		})
	}
	for _, cl := range cls {
		next <- cl
	}
	close(next)
	wg.Wait()
}

// endSession takes p out of the index and emits its disconnected event, once:
// from OnDisconnect, or when mochi's attachClient returned without calling it
// (a failed CONNACK write). cause applies unless the broker recorded one.
func (b *Broker) endSession(p *peer, cause string) {
	b.idx.mu.Lock()
	if !p.registered || p.ended {
		b.idx.mu.Unlock()
		return
	}
	p.ended = true
	b.idx.removeLocked(p)
	if p.cause != "" {
		cause = p.cause
	}
	id := p.clientID
	b.idx.mu.Unlock()
	b.emit(p.event(EventDisconnected, cause, id))
}

// clientOf returns p's mochi client once CONNECT was authenticated, else nil.
func (b *Broker) clientOf(p *peer) *mqtt.Client {
	b.idx.mu.Lock()
	defer b.idx.mu.Unlock()
	return p.cl
}
