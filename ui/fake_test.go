package ui

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// issuerHash is the issuer part of the fake certificates' IDs
// (store.CertID); dev1ID is dev1's whole ID.
const (
	issuerHash = "5a1e0c7d9b2f4e61"
	dev1ID     = "3f2a9c1b7d5e4a01/" + issuerHash
)

// t0 is the fixed "now" of every test.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// fakeBackend is an in-memory Backend that records calls. Transition and
// SetClientAuth drop sessions and emit disconnected events like the real
// App, so flows can watch a device go.
type fakeBackend struct {
	mu        sync.Mutex
	snap      app.Snapshot
	calls     []string
	sub       chan broker.Event
	snapshots int
	created   []app.CreateRequest
	exported  []string
	failWith  error // returned by actions when set
	cluster   app.ClusterStatus
	// createWarning is CreateCert's warning about where the key went.
	createWarning string
}

func newFake() *fakeBackend {
	cert := func(serial, cn string, st store.State, created, notAfter, lastSeen time.Time) store.Cert {
		return store.Cert{
			ID: serial + "/" + issuerHash, Serial: serial, CN: cn, SANs: []string{cn + ".local"}, Issuer: "Gatehouse Issuing CA",
			NotBefore: created, NotAfter: notAfter, Fingerprint: fmt.Sprintf("%064x", len(cn)),
			KeyType: "ecdsa-p256", State: st, Source: store.SourceIssued, CreatedAt: created,
			LastSeen: lastSeen, StateChangedAt: created,
		}
	}
	sess := func(id, serial, cn, tr, remote string, ago time.Duration, in, out uint64) broker.Session {
		s := broker.Session{ClientID: id, Serial: serial, CN: cn, Transport: tr, Remote: remote,
			ConnectedAt: t0.Add(-ago), MsgsIn: in, MsgsOut: out, LastActivity: t0}
		if serial != "" {
			s.CertID = serial + "/" + issuerHash
		}
		return s
	}
	return &fakeBackend{snap: app.Snapshot{
		Certs: []store.Cert{
			cert("3f2a9c1b7d5e4a01", "dev1", store.StateActive, t0.Add(-day), t0.Add(364*day), t0.Add(-5*time.Minute)),
			cert("9b1c44e0aa7f3302", "dev2", store.StateSuspended, t0.Add(-2*day), t0.Add(30*day), t0.Add(-2*time.Hour)),
			cert("5d0e8812cc3b9a03", "sensor-7", store.StateInactive, t0.Add(-3*day), t0.Add(5*time.Hour), time.Time{}),
			cert("77aa88bb99cc0005", "legacy", store.StateActive, t0.Add(-367*day), t0.Add(-2*day), t0.Add(-3*day)),
			cert("a1b2c3d4e5f60704", "old-gw", store.StateRevoked, t0.Add(-400*day), t0.Add(-35*day), t0.Add(-40*day)),
		},
		Sessions: []broker.Session{
			sess("dev1-a", "3f2a9c1b7d5e4a01", "dev1", broker.TransportMQTTS, "10.0.0.5:50123", 42*time.Minute, 1234, 56),
			sess("dev1-b", "3f2a9c1b7d5e4a01", "dev1", broker.TransportWSS, "10.0.0.6:50124", 3*time.Minute, 12, 3),
			sess("anon-1", "", "", broker.TransportWSS, "10.0.0.9:40000", 90*time.Second, 0, 0),
		},
		Transports: []broker.TransportInfo{
			{Name: broker.TransportMQTTS, Addr: "0.0.0.0:8883", TLS: true, ClientAuth: true, Connected: 1},
			{Name: broker.TransportWSS, Addr: "0.0.0.0:8884", TLS: true, ClientAuth: false, Connected: 2},
			{Name: broker.TransportMQTT, Addr: "0.0.0.0:1883"},
		},
		CAs: []store.CA{
			{ID: "c0ffee0011223344", Role: store.RoleRoot, Subject: "Gatehouse Root CA", NotAfter: t0.Add(3650 * day)},
			{ID: "beef001122334455", Role: store.RoleIssuing, Subject: "Gatehouse Issuing CA", NotAfter: t0.Add(1825 * day)},
			{ID: "acme001122334455", Role: store.RoleTrusted, Subject: "Acme Devices CA", NotAfter: t0.Add(700 * day), Strict: true},
		},
		Events: []broker.Event{
			{At: t0.Add(-time.Hour), Type: broker.EventCertState, Serial: "9b1c44e0aa7f3302", CertID: "9b1c44e0aa7f3302/" + issuerHash, CN: "dev2", Reason: "suspended", From: "active", To: "suspended"},
			{At: t0.Add(-42 * time.Minute), Type: broker.EventConnected, ClientID: "dev1-a", Serial: "3f2a9c1b7d5e4a01", CertID: dev1ID, CN: "dev1", Remote: "10.0.0.5:50123", Transport: broker.TransportMQTTS},
			{At: t0.Add(-3 * time.Minute), Type: broker.EventConnected, ClientID: "dev1-b", Serial: "3f2a9c1b7d5e4a01", CertID: dev1ID, CN: "dev1", Remote: "10.0.0.6:50124", Transport: broker.TransportWSS},
			{At: t0.Add(-90 * time.Second), Type: broker.EventConnected, ClientID: "anon-1", Remote: "10.0.0.9:40000", Transport: broker.TransportWSS},
			{At: t0.Add(-10 * time.Second), Type: broker.EventRefused, Reason: "no client certificate", Remote: "10.0.0.66:41000", Transport: broker.TransportMQTTS},
		},
		Telemetry: fakeTelemetry(),
	}}
}

// fakeTelemetry has a Kaa-style JSON publisher, a binary one and a gateway
// with more fields than the list shows per client.
func fakeTelemetry() []app.Series {
	temp := []float64{20.5, 20.7, 21, 21.4, 21.9, 22.3, 22.6, 22.8, 22.7, 22.4, 22, 21.6, 21.3, 21.1, 21.2, 21.5}
	hum := []float64{48, 47.5, 47, 46.2, 45.5, 45, 44.6, 44.2, 44, 43.8, 43.9, 44.1, 44.3, 44, 43.9, 44}
	return []app.Series{
		{ClientID: "dev1-a", Topic: "devices/dev1/telemetry", Fields: map[string][]float64{"temperature": temp, "humidity": hum},
			Messages: 1234, Bytes: 1234 * 58, Rate: 0.5, LastAt: t0.Add(-2 * time.Second)},
		{ClientID: "dev1-b", Topic: "devices/dev1/firmware", Messages: 12, Bytes: 1229, Rate: 0.5, LastAt: t0.Add(-30 * time.Second)},
		{ClientID: "gw-9", Topic: "site/gw-9/air", Fields: map[string][]float64{
			"battery": {3.9, 3.85, 3.8}, "co2": {410, 415, 412}, "humidity": {51, 52, 50},
			"pressure": {1013.2, 1013.1, 1012.9}, "temperature": {19, 19.5, 19.25}, "voc": {0.3, 0.4, 0.35},
		}, Messages: 3, Bytes: 540, Rate: 0.1, LastAt: t0.Add(-5 * time.Minute)},
	}
}

func (f *fakeBackend) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

// Calls returns the recorded calls, in order.
func (f *fakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeBackend) Snapshots() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snapshots
}

func (f *fakeBackend) Describe() string { return "fake backend" }

func (f *fakeBackend) ClusterStatus(context.Context) (app.ClusterStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("cluster status")
	return f.cluster, nil
}

func (f *fakeBackend) Snapshot(context.Context) (app.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snapshots++
	s := f.snap
	s.Certs, s.Sessions = slices.Clone(s.Certs), slices.Clone(s.Sessions)
	s.Transports, s.Events = slices.Clone(s.Transports), slices.Clone(s.Events)
	s.Telemetry = slices.Clone(s.Telemetry)
	for i, t := range s.Telemetry { // like the real collector, hand out copies
		s.Telemetry[i].Fields = maps.Clone(t.Fields)
	}
	return s, nil
}

func (f *fakeBackend) Subscribe(ctx context.Context) (<-chan broker.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan broker.Event, 256)
	f.sub = ch
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.sub == ch {
			f.sub = nil
		}
		close(ch)
	}()
	return ch, nil
}

// emit sends an event to the subscriber; like the real backend it never blocks.
func (f *fakeBackend) emit(ev broker.Event) {
	if f.sub != nil {
		select {
		case f.sub <- ev:
		default:
		}
	}
}

// Emit is emit for tests, taking the lock.
func (f *fakeBackend) Emit(ev broker.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emit(ev)
}

func (f *fakeBackend) CreateCert(_ context.Context, req app.CreateRequest) (app.CreateResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CreateCert cn=%s ttl=%s key=%s out=%s", req.CN, req.TTL, req.KeyType, req.OutDir)
	if f.failWith != nil {
		return app.CreateResult{}, f.failWith
	}
	f.created = append(f.created, req)
	cn := req.CN
	if cn == "" {
		cn = "device-1"
	}
	dir := req.OutDir
	if dir == "" {
		dir = "./" + cn
	}
	c := store.Cert{ID: "c0ffee42d00d0006/" + issuerHash, Serial: "c0ffee42d00d0006", CN: cn, Issuer: "Gatehouse Issuing CA", State: store.StateInactive,
		NotBefore: t0, NotAfter: t0.Add(365 * day), CreatedAt: t0, KeyType: req.KeyType, Source: store.SourceIssued}
	f.snap.Certs = append(f.snap.Certs, c)
	return app.CreateResult{Cert: c, Files: []string{dir + "/ca.pem", dir + "/client.crt", dir + "/client.key"},
		Warning: f.createWarning}, nil
}

// Transition takes an ID, as the App resolves what it is given.
func (f *fakeBackend) Transition(_ context.Context, id string, to store.State, reason string) (app.TransitionResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Transition %s %s %q", id, to, reason)
	if f.failWith != nil {
		return app.TransitionResult{}, f.failWith
	}
	i := slices.IndexFunc(f.snap.Certs, func(c store.Cert) bool { return c.ID == id })
	if i < 0 {
		return app.TransitionResult{}, store.ErrNotFound
	}
	from := f.snap.Certs[i].State
	f.snap.Certs[i].State = to
	dropped := 0
	if to != store.StateActive {
		cause := map[store.State]string{store.StateSuspended: "suspended by operator", store.StateRevoked: "revoked by operator"}[to]
		dropped = f.drop(func(s broker.Session) bool { return s.CertID == id }, cause)
	}
	c := f.snap.Certs[i]
	f.emit(broker.Event{At: t0, Type: broker.EventCertState, Serial: c.Serial, CertID: c.ID, CN: c.CN, Reason: string(to),
		From: string(from), To: string(to)})
	return app.TransitionResult{Cert: f.snap.Certs[i], Dropped: dropped}, nil
}

func (f *fakeBackend) PurgeRetained(_ context.Context, id string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("PurgeRetained %s", id)
	return 3, nil
}

// The policy calls keep the rules in the snapshot, like the App.
func (f *fakeBackend) Policy(context.Context) (store.Policy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap.Policy, nil
}

func (f *fakeBackend) AddRule(_ context.Context, r store.Rule) (store.Rule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("AddRule %s %s %s %s", r.Effect, r.Action, r.Topic, r.Who)
	r.ID = fmt.Sprintf("r%d", len(f.snap.Policy.Rules)+1)
	f.snap.Policy.Rules = append(slices.Clone(f.snap.Policy.Rules), r)
	return r, f.failWith
}

func (f *fakeBackend) RemoveRule(_ context.Context, id string) (store.Rule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RemoveRule %s", id)
	i := slices.IndexFunc(f.snap.Policy.Rules, func(r store.Rule) bool { return r.ID == id })
	if i < 0 {
		return store.Rule{}, store.ErrNotFound
	}
	r := f.snap.Policy.Rules[i]
	f.snap.Policy.Rules = slices.Delete(slices.Clone(f.snap.Policy.Rules), i, i+1)
	return r, nil
}

func (f *fakeBackend) MoveRule(_ context.Context, id, before string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("MoveRule %s %s", id, before)
	return f.failWith
}

func (f *fakeBackend) SetPolicyDefault(_ context.Context, effect string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("SetPolicyDefault %s", effect)
	f.snap.Policy.Default = effect
	return f.failWith
}

// drop removes matching sessions and emits their disconnected events.
func (f *fakeBackend) drop(match func(broker.Session) bool, cause string) int {
	n := 0
	f.snap.Sessions = slices.DeleteFunc(f.snap.Sessions, func(s broker.Session) bool {
		if !match(s) {
			return false
		}
		n++
		f.emit(broker.Event{At: t0, Type: broker.EventDisconnected, Reason: cause, ClientID: s.ClientID,
			Serial: s.Serial, CertID: s.CertID, CN: s.CN, Remote: s.Remote, Transport: s.Transport})
		return true
	})
	return n
}

func (f *fakeBackend) SetClientAuth(_ context.Context, transport string, on bool) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("SetClientAuth %s %v", transport, on)
	if f.failWith != nil {
		return 0, f.failWith
	}
	i := slices.IndexFunc(f.snap.Transports, func(t broker.TransportInfo) bool { return t.Name == transport })
	if i < 0 || !f.snap.Transports[i].TLS {
		return 0, errors.New("no such TLS transport")
	}
	f.snap.Transports[i].ClientAuth = on
	if !on {
		return 0, nil
	}
	return f.drop(func(s broker.Session) bool { return s.Transport == transport && s.CertID == "" }, "mTLS switched on"), nil
}

func (f *fakeBackend) History(_ context.Context, id string) ([]store.AuditRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("History %s", id)
	serial, _, _ := strings.Cut(id, "/")
	return []store.AuditRecord{
		{Seq: 2, At: t0.Add(-time.Hour), Actor: "broker", Action: "cert.activate", Serial: serial, From: store.StateInactive, To: store.StateActive, Reason: "first handshake"},
		{Seq: 1, At: t0.Add(-day), Actor: "tui", Action: "cert.create", Serial: serial, To: store.StateInactive},
	}, nil
}

func (f *fakeBackend) ExportCA(_ context.Context, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ExportCA %s", path)
	f.exported = append(f.exported, path)
	return f.failWith
}

// ResolveSerial resolves a CN with the App's own ByCN, else a serial
// prefix, to the certificate's ID.
func (f *fakeBackend) ResolveSerial(_ context.Context, query string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ResolveSerial %s", query)
	states := make([]store.CertState, len(f.snap.Certs))
	for i, c := range f.snap.Certs {
		states[i] = store.CertState{ID: c.ID, Serial: c.Serial, CN: c.CN, State: c.State}
	}
	if serial, ok, err := app.ByCN(states, query); ok || err != nil {
		return serial, err
	}
	var hits []string
	for _, c := range f.snap.Certs {
		if strings.HasPrefix(c.Serial, strings.ToLower(query)) {
			hits = append(hits, c.ID)
		}
	}
	if len(hits) != 1 {
		return "", fmt.Errorf("no unique certificate %q: %w", query, store.ErrNotFound)
	}
	return hits[0], nil
}

func (f *fakeBackend) Kick(_ context.Context, clientID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Kick %s", clientID)
	if f.drop(func(s broker.Session) bool { return s.ClientID == clientID }, "kicked by operator") == 0 {
		return store.ErrNotFound
	}
	return nil
}

// TokenTransition drops the subject's sessions like the real App.
func (f *fakeBackend) TokenTransition(_ context.Context, ref string, to store.State, reason string) (app.TokenTransitionResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("TokenTransition %s %s %q", ref, to, reason)
	if f.failWith != nil {
		return app.TokenTransitionResult{}, f.failWith
	}
	dropped := 0
	if to != store.StateActive {
		dropped = f.drop(func(s broker.Session) bool { return s.Subject == ref }, string(to)+" by operator")
	}
	return app.TokenTransitionResult{Subject: store.TokenSubject{Subject: ref, State: to}, Dropped: dropped}, nil
}
