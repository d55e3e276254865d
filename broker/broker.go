package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/gatehouse/gatehouse/broker/policy"
)

// Defaults for the zero values of Config.
const (
	DefaultWSSPath          = "/mqtt"
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultExpiryCheck      = time.Second
)

// maxSessionExpiry bounds, in seconds, how long a disconnected persistent
// session is kept: mochi's default keeps them forever, so devices could pile
// up sessions and their queued messages without limit.
const maxSessionExpiry = 24 * 60 * 60

// Errors returned by Start.
var (
	// ErrStarted means Start was already called successfully.
	ErrStarted = errors.New("broker already started")
	// ErrClosed means the broker was closed; a closed broker cannot restart.
	ErrClosed = errors.New("broker closed")
)

// Broker is the mTLS MQTT broker: mochi behind gate listeners, one gate hook,
// and the serial -> sessions index used to drop sessions live.
type Broker struct {
	cfg              Config
	log              *slog.Logger
	handshakeTimeout time.Duration
	expiryCheck      time.Duration
	modes            map[string]*atomic.Bool            // fixed keys; values switched at run time
	authModes        map[string]*atomic.Pointer[string] // credential mode per transport (AuthMode); fixed keys
	server           *mqtt.Server
	idx              index
	limits           atomic.Pointer[Limits] // swapped whole by SetLimits; read lock-free
	conns            connLimiter
	retained         retainIndex
	renew            renewer                       // in-band certificate renewal, called by the gate hook
	policy           atomic.Pointer[policy.Policy] // nil: every topic allowed
	denials          sync.Map                      // certificate ID ("" anonymous) -> *atomic.Uint64

	life      sync.Mutex // serialises Start and Close
	started   bool
	closed    bool
	listeners []*gateListener
	stop      chan struct{}
	bg        sync.WaitGroup // the expiry loop
}

// New checks cfg and builds a broker; nothing listens until Start.
func New(cfg Config) (*Broker, error) {
	if cfg.MQTTSAddr == "" && cfg.WSSAddr == "" && cfg.MQTTAddr == "" && cfg.HTTPSAddr == "" {
		return nil, errors.New("new broker: no transport address configured")
	}
	if cfg.MQTTSAddr != "" || cfg.WSSAddr != "" || cfg.HTTPSAddr != "" {
		if cfg.GetCertificate == nil {
			return nil, errors.New("new broker: TLS transports need Config.GetCertificate")
		}
		if cfg.Authorizer == nil {
			return nil, errors.New("new broker: TLS transports need Config.Authorizer")
		}
	}
	if cfg.WSSPath == "" {
		cfg.WSSPath = DefaultWSSPath
	}
	if cfg.WSSPath[0] != '/' {
		return nil, fmt.Errorf("new broker: websocket path %q must start with /", cfg.WSSPath)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("new broker: %w", err)
	}
	b := &Broker{
		cfg:              cfg,
		log:              cfg.Logger.With("component", "broker"),
		handshakeTimeout: orDefault(cfg.HandshakeTimeout, DefaultHandshakeTimeout),
		expiryCheck:      orDefault(cfg.ExpiryCheck, DefaultExpiryCheck),
		modes:            map[string]*atomic.Bool{},
		idx:              newIndex(),
		conns:            connLimiter{perIP: map[string]int{}},
		retained:         retainIndex{byTopic: map[string]retainedBy{}},
		stop:             make(chan struct{}),
	}
	b.policy.Store(cfg.Policy)
	modes, err := newAuthModes(cfg.AuthModes)
	if err != nil {
		return nil, fmt.Errorf("new broker: %w", err)
	}
	for _, m := range modes {
		if *m.Load() != AuthCert && cfg.Tokens == nil {
			return nil, errNoTokens
		}
	}
	b.authModes = modes
	for _, name := range []string{TransportMQTTS, TransportWSS, TransportHTTPS} {
		on, set := cfg.ClientAuth[name]
		m := new(atomic.Bool)
		m.Store(on || !set) // client-cert auth defaults to on
		b.modes[name] = m
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumSessionExpiryInterval = maxSessionExpiry
	l := cfg.Limits.withDefaults()
	b.limits.Store(&l)
	l.capabilities(caps)
	b.server = mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		ClientNetReadBufferSize:  clientReadBuffer,
		ClientNetWriteBufferSize: writeBatch,
		Logger:                   slog.New(newMochiLog(cfg.Logger.Handler())).With("component", "mochi"),
	})
	b.renew.b = b
	// The limit hook comes first: mochi calls hooks in the order added.
	if err := b.server.AddHook(&limitHook{b: b}, nil); err != nil {
		return nil, fmt.Errorf("new broker: add limit hook: %w", err)
	}
	if err := b.server.AddHook(&gateHook{b: b}, nil); err != nil {
		return nil, fmt.Errorf("new broker: add gate hook: %w", err)
	}
	if err := b.server.AddHook(&retainHook{b: b}, nil); err != nil {
		return nil, fmt.Errorf("new broker: add retain hook: %w", err)
	}
	return b, nil
}

// transportAddr is a configured transport and its requested address.
type transportAddr struct{ name, addr string }

// configured lists the enabled transports in their display order.
func (b *Broker) configured() []transportAddr {
	var out []transportAddr
	for _, t := range []transportAddr{
		{TransportMQTTS, b.cfg.MQTTSAddr},
		{TransportWSS, b.cfg.WSSAddr},
		{TransportHTTPS, b.cfg.HTTPSAddr},
		{TransportMQTT, b.cfg.MQTTAddr},
	} {
		if t.addr != "" {
			out = append(out, t)
		}
	}
	return out
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Start binds every configured listener, failing with the transport and
// address if one cannot be bound (nothing stays bound then), and serves.
func (b *Broker) Start() error {
	b.life.Lock()
	defer b.life.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.started {
		return ErrStarted
	}
	for _, t := range b.configured() {
		l, err := listen(b, t.name, t.addr)
		if err != nil {
			b.unbind()
			return err // "listen mqtts :8883: address already in use"
		}
		b.listeners = append(b.listeners, l)
	}
	for _, l := range b.listeners {
		if err := b.server.AddListener(l); err != nil {
			b.unbind()
			return fmt.Errorf("start broker: add listener %s: %w", l.name, err)
		}
	}
	if err := b.server.Serve(); err != nil {
		b.unbind()
		return fmt.Errorf("start broker: serve: %w", err)
	}
	b.started = true
	b.bg.Add(1)
	go b.expiryLoop()
	b.log.Info("broker started", "transports", len(b.listeners))
	return nil
}

// unbind closes listeners bound by a failed Start.
func (b *Broker) unbind() {
	for _, l := range b.listeners {
		_ = l.ln.Close()
	}
	b.listeners = nil
}

// Close stops the listeners and ends every session with DISCONNECT "server
// shutting down" (their events say "server stopped"). It is idempotent.
func (b *Broker) Close() error {
	b.life.Lock()
	defer b.life.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if !b.started {
		return nil
	}
	b.idx.mu.Lock()
	b.idx.stopping = true
	for _, set := range b.idx.byCert {
		for p := range set {
			if p.cause == "" {
				p.cause = CauseStopped
			}
		}
	}
	b.idx.mu.Unlock()
	close(b.stop)
	b.bg.Wait()
	if err := b.server.Close(); err != nil {
		return fmt.Errorf("close broker: %w", err)
	}
	b.log.Info("broker stopped")
	return nil
}

// Transports describes the configured listeners, with their bound addresses
// once started.
func (b *Broker) Transports() []TransportInfo {
	b.life.Lock()
	bound := map[string]string{}
	for _, l := range b.listeners {
		bound[l.name] = l.Address()
	}
	b.life.Unlock()

	connected := map[string]int{}
	b.idx.mu.Lock()
	for _, set := range b.idx.byCert {
		for p := range set {
			connected[p.transport]++
		}
	}
	b.idx.mu.Unlock()

	var out []TransportInfo
	for _, t := range b.configured() {
		addr := t.addr
		if a, ok := bound[t.name]; ok {
			addr = a
		}
		out = append(out, TransportInfo{
			Name:       t.name,
			Addr:       addr,
			TLS:        t.name != TransportMQTT,
			AuthMode:   b.AuthMode(t.name),
			ClientAuth: b.ClientAuth(t.name),
			Connected:  connected[t.name],
		})
	}
	return out
}

// emit delivers an event; Config.Emit must not block. Never called with the
// index mutex held.
func (b *Broker) emit(ev Event) {
	if b.cfg.Emit != nil {
		b.cfg.Emit(ev)
	}
}
