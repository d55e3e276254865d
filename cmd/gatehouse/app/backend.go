package app

import (
	"context"
	"fmt"
	"slices"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/policy"
	"github.com/gatehouse/gatehouse/store"
)

// Describe implements Service.
func (a *App) Describe() string {
	if a.broker() == nil {
		return "store " + a.st.Path() + " (no broker running)"
	}
	return "in-process broker, data " + a.data
}

// Snapshot implements Service. A cluster node cut off from etcd answers
// with the stored records it last read (the state it enforces) and its
// live sessions and events; Cluster says so.
func (a *App) Snapshot(ctx context.Context) (Snapshot, error) {
	stored, err := a.storedParts(ctx)
	posture := a.posture()
	switch {
	case err == nil:
		keep := stored
		keep.certs = slices.Clone(stored.certs) // the overlay below is this snapshot's only
		a.lastStored.Store(&keep)
	case posture != nil && posture.Offline && a.lastStored.Load() != nil:
		stored = *a.lastStored.Load()
		stored.certs = slices.Clone(stored.certs) // overlaid below
	default:
		return Snapshot{}, err
	}
	sessions := a.liveSessions()
	live := countByCert(sessions)
	now := a.now()
	denials := map[string]uint64{}
	for i := range stored.certs {
		a.seen.overlay(&stored.certs[i], live[stored.certs[i].ID], now)
		if n := a.denials(stored.certs[i].ID); n > 0 {
			denials[stored.certs[i].ID] = n
		}
	}
	transports, _ := a.Transports(ctx)
	return Snapshot{
		TokenSubjects: stored.tokens,
		Certs:         stored.certs,
		Sessions:      sessions,
		Transports:    transports,
		CAs:           stored.cas,
		Events:        a.hub.Recent(),
		Telemetry:     a.tele.Snapshot(),
		Policy:        stored.pol,
		Denials:       denials,
		PolicyIssuers: stored.issuers,
		Warnings:      a.Warnings(),
		Cluster:       posture,
	}, nil
}

// storedParts are the parts of a Snapshot read from the store.
type storedParts struct {
	certs   []store.Cert
	cas     []store.CA
	pol     store.Policy
	issuers policy.Issuers
	tokens  []TokenSubjectView
}

func (a *App) storedParts(ctx context.Context) (storedParts, error) {
	certs, err := a.certs.list(a.st)
	if err != nil {
		return storedParts{}, err
	}
	cas, err := a.ca.CAs()
	if err != nil {
		return storedParts{}, fmt.Errorf("list CAs: %w", err)
	}
	pol, err := a.st.Policy()
	if err != nil {
		return storedParts{}, err
	}
	issuers, err := policyIssuers(cas)
	if err != nil {
		return storedParts{}, err
	}
	tokens, err := a.Tokens(ctx)
	if err != nil {
		return storedParts{}, err
	}
	return storedParts{certs: certs, cas: cas, pol: pol, issuers: issuers, tokens: tokens.Subjects}, nil
}

// Subscribe implements Service.
func (a *App) Subscribe(ctx context.Context) (<-chan broker.Event, error) {
	return a.hub.Subscribe(ctx), nil
}

// RecentEvents implements Service.
func (a *App) RecentEvents(context.Context) ([]broker.Event, error) { return a.hub.Recent(), nil }

// Sessions implements Service.
func (a *App) Sessions(context.Context) ([]broker.Session, error) { return a.liveSessions(), nil }

// Transports implements Service. Without a running broker it reports the
// persisted modes of the TLS transports, with no addresses.
func (a *App) Transports(context.Context) ([]broker.TransportInfo, error) {
	if br := a.broker(); br != nil {
		return br.Transports(), nil
	}
	s, err := a.st.Settings()
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	var out []broker.TransportInfo
	for _, t := range TLSTransports() {
		on, set := s.ClientAuth[t]
		out = append(out, broker.TransportInfo{Name: t, TLS: true, ClientAuth: on || !set})
	}
	return out, nil
}

// TLSTransports returns the transports with a client-cert auth switch, in
// display order.
func TLSTransports() []string {
	return []string{broker.TransportMQTTS, broker.TransportWSS, broker.TransportHTTPS}
}

// SetClientAuth implements Service: the mode is persisted with an audit
// record, then applied to the running broker, which drops every session on
// that transport without a verified certificate when switching on.
func (a *App) SetClientAuth(ctx context.Context, transport string, on bool) (int, error) {
	if !slices.Contains(TLSTransports(), transport) {
		return 0, usageError(fmt.Errorf("unknown TLS transport %q: use mqtts, wss or https", transport))
	}
	action := "mtls.off"
	if on {
		action = "mtls.on"
	}
	// Saving and applying happen under one lock, so concurrent switches
	// leave the running mode equal to the saved one.
	a.modeMu.Lock()
	defer a.modeMu.Unlock()
	br := a.broker()
	dropped := 0
	_, err := a.st.UpdateSettings(func(s *store.Settings) error {
		if s.ClientAuth == nil {
			s.ClientAuth = map[string]bool{}
		}
		s.ClientAuth[transport] = on
		return nil
	}, store.AuditRecord{At: a.now(), Actor: a.actorOf(ctx), Action: action, Detail: transport})
	if err != nil {
		return 0, fmt.Errorf("save client-cert auth for %s: %w", transport, err)
	}
	if br != nil {
		if dropped, err = br.SetClientAuth(transport, on); err != nil {
			return 0, err
		}
	}
	state := "off"
	if on {
		state = "on"
	}
	a.emit(broker.Event{At: a.now(), Type: broker.EventMTLS, Transport: transport, To: state,
		Reason: fmt.Sprintf("client-cert auth %s by %s, dropped %d", state, a.actorOf(ctx), dropped)})
	return dropped, nil
}
