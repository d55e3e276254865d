package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// DBFile is the store's file name inside the data directory.
const DBFile = "gatehouse.db"

// Config says where an App keeps its data and where it logs.
type Config struct {
	DataDir string
	Logger  *slog.Logger // nil discards
	Now     func() time.Time
	// Actor names who acts when a call's context carries none (see WithActor):
	// "tui" for the in-process TUI, the OS user for a command.
	Actor string
	// CAPassphrase, when set, keeps the CA keys encrypted at rest (see
	// pki.WithPassphrase); nil opens a store whose keys are in the clear.
	CAPassphrase []byte
	// Events bounds the persisted event log; nil means DefaultEventRetention.
	Events *store.EventRetention
	// Access says whether Open may create the store and whether it writes
	// to it; the zero value creates (serve, the TUI, demo, init).
	Access Access
	// Etcd, when set, keeps the store in etcd instead of DATA/gatehouse.db
	// (cluster mode): several nodes then share it and apply each other's
	// changes. The data directory still holds the admin socket.
	Etcd *store.EtcdConfig
	// Node names this node in the cluster's session registry (with Etcd).
	Node string
}

// BrokerConfig configures the embedded broker.
type BrokerConfig struct {
	MQTTS, WSS, MQTT string   // listen addresses; empty disables a transport
	HTTPS            string   // the HTTPS device API's listen address; empty disables it
	WSSOrigins       []string // browser origins allowed on wss besides the broker's own
	SANs             []string // extra server certificate names
	ServerCertFile   string   // operator-provided server certificate (PEM chain)
	ServerKeyFile    string
	Limits           broker.Limits // what clients may make the broker hold or do
	PublicURL        string        // where relying parties reach CRL and OCSP; "" keeps the stored one
	// ExpiryWarning is how long before expiry a certificate in use raises an
	// `expiring` event; 0 means DefaultExpiryWarning.
	ExpiryWarning time.Duration
	// JWTAudience is the aud a device's token must carry; "" means
	// pki.DefaultTokenAudience.
	JWTAudience string
	// ProxyFrom turns the PROXY protocol on for the TLS listeners, believed
	// from these networks only (broker.Config.ProxyFrom); nil: off.
	ProxyFrom []netip.Prefix
}

// App is one Gatehouse: the store, the PKI and, when started, the broker.
// Without a broker (a command run while no daemon is up) it still serves every
// store operation; live-session answers are then empty.
type App struct {
	data   string
	actor  string
	log    *slog.Logger
	now    func() time.Time
	st     *store.Store
	ca     *pki.Authority
	hub    *Hub
	tele   *Telemetry
	seen   lastSeen
	certs  certCache
	server pki.ServerCert

	modeMu sync.Mutex // serialises client-cert auth switches (SetClientAuth)
	aclMu  sync.Mutex // serialises policy changes and their hand-over to the broker

	stopLog func()         // ends the event log subscription
	logged  chan struct{}  // closed when logEvents has returned
	bg      sync.WaitGroup // background loops started with the broker

	metricsOnce sync.Once
	metrics     atomic.Pointer[Metrics]
	stopMetrics func()        // ends the metrics' subscription
	counted     chan struct{} // closed when the metrics' counter has returned

	retention   store.EventRetention
	stopPersist func()        // ends the persisting subscription
	persisted   chan struct{} // closed when persistEvents has flushed and returned
	flushReq    chan chan struct{}

	mu   sync.Mutex // guards br and bcfg against Start/Close races
	br   *broker.Broker
	bcfg BrokerConfig

	node   string                                // Config.Node
	reg    atomic.Pointer[store.SessionRegistry] // the cluster's session registry; nil outside cluster mode, and until it opens
	claims sessionClaims
	// reclaim asks the registry's reclaimer to claim this node's sessions
	// again (capacity 1: requests made while one waits are that one).
	reclaim chan struct{}
	// lastStored is what Snapshot last read from the store: a cluster node
	// cut off from etcd shows it (backend.go).
	lastStored atomic.Pointer[storedParts]
}

// Open opens the data directory and the store, creating them on first use
// when cfg.Access allows it; otherwise a missing store is an error wrapping
// ErrNoStore. A store file open to other users is tightened (logged as a
// warning) or refused, see PrivateFile.
func Open(cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	st, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	a := &App{data: cfg.DataDir, actor: cfg.Actor, log: cfg.Logger, now: cfg.Now, st: st, hub: NewHub(), tele: NewTelemetry(0, 0),
		retention: DefaultEventRetention, node: cfg.Node}
	if cfg.Events != nil {
		a.retention = *cfg.Events
	}
	opts := []pki.Option{pki.WithClock(cfg.Now), pki.WithOnChange(a.certChanged)}
	if cfg.CAPassphrase != nil {
		opts = append(opts, pki.WithPassphrase(cfg.CAPassphrase))
	}
	a.ca, err = pki.Init(st, opts...)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("initialise CA in %s: %w", cfg.DataDir, err)
	}
	if err := a.startEventLog(); err != nil {
		st.Close()
		return nil, fmt.Errorf("open event log in %s: %w", cfg.DataDir, err)
	}
	return a, nil
}

// openStore opens the store in etcd when cfg says so, else the data
// directory's file.
func openStore(cfg Config) (*store.Store, error) {
	if cfg.Etcd != nil {
		if err := PrivateDir(cfg.DataDir); err != nil {
			return nil, err
		}
		ec := *cfg.Etcd
		ec.ReadOnly = cfg.Access == AccessReadOnly
		ec.Node = cfg.Node
		return store.OpenEtcd(ec)
	}
	path := filepath.Join(cfg.DataDir, DBFile)
	if cfg.Access != AccessCreate {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, noStoreError(cfg.DataDir)
		}
	}
	if err := PrivateDir(cfg.DataDir); err != nil {
		return nil, err
	}
	warning, err := PrivateFile(path)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		cfg.Logger.Warn(warning)
	}
	st, err := store.Open(path, store.Options{Timeout: time.Second, MustExist: cfg.Access != AccessCreate, ReadOnly: cfg.Access == AccessReadOnly})
	if errors.Is(err, store.ErrNoStore) {
		return nil, noStoreError(cfg.DataDir) // removed since the first look
	}
	return st, err
}

// PrivateDir makes dir a private data directory: created with mode 0700 when
// missing, tightened to 0700 when it is empty or already Gatehouse's (holds
// its store). Any other directory open to other users is refused rather than
// changed: --data . must not lock an operator out of their own directory.
func PrivateDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create data dir %s: %w", dir, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	_, statErr := os.Stat(filepath.Join(dir, DBFile))
	if len(entries) > 0 && statErr != nil {
		return fmt.Errorf("data dir %s is open to other users (mode %04o) and would hold CA keys: use an empty or new directory, or run 'chmod 700 %s'", dir, perm, dir)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("secure data dir %s: %w", dir, err)
	}
	return nil
}

// DataDir is the directory the App keeps its store in.
func (a *App) DataDir() string { return a.data }

// Hub is the App's event hub.
func (a *App) Hub() *Hub { return a.hub }

// Authority is the App's PKI.
func (a *App) Authority() *pki.Authority { return a.ca }

// certChanged turns a committed lifecycle change into an event.
func (a *App) certChanged(c store.Cert, rec store.AuditRecord) {
	a.certs.invalidate()
	if c.Renews != "" && rec.From == store.StateInactive && rec.To == store.StateActive {
		a.bg.Go(func() { a.supersede(c) })
	}
	reason := string(rec.From) + " -> " + string(rec.To)
	if rec.From == "" {
		reason = "registered as " + string(c.State)
	}
	if rec.Actor != "" { // Activity names who acted (an SSH operator's key)
		reason += " by " + rec.Actor
	}
	if rec.Reason != "" {
		reason += ": " + rec.Reason
	}
	a.emit(broker.Event{At: rec.At, Type: broker.EventCertState, Reason: reason, Serial: c.Serial, CertID: c.ID, CN: c.CN,
		From: string(rec.From), To: string(c.State)})
}

// emit is where every event passes: the broker's, lifecycle changes and
// auth switches. It caps the strings a device chooses (see capEvent), notes
// when certificates were last seen and hands the event to the hub, which
// feeds the log and the store; it never blocks (see Hub).
func (a *App) emit(e broker.Event) {
	e = capEvent(e)
	a.seen.observe(e)
	a.observeClaim(e)
	a.hub.Emit(e)
}

// logEvents writes every event to the log from its own goroutine, as a hub
// subscriber: a slow log (a stalled stderr pipe) then loses log lines, never
// delays an MQTT client.
func (a *App) logEvents(ch <-chan broker.Event) {
	defer close(a.logged)
	for e := range ch {
		var attrs []any
		for _, kv := range [][2]string{{"reason", e.Reason}, {"client_id", e.ClientID}, {"cn", e.CN},
			{"serial", e.Serial}, {"remote", e.Remote}, {"transport", e.Transport}} {
			if kv[1] != "" {
				attrs = append(attrs, kv[0], kv[1])
			}
		}
		a.log.Info(e.Type, attrs...)
	}
}

// StartBroker starts the MQTT listeners with the persisted client-cert auth
// modes. It fails, naming the address, when a port is taken.
func (a *App) StartBroker(cfg BrokerConfig) error {
	if err := a.ensureSoleNode(); err != nil {
		return err
	}
	if cfg.PublicURL != "" {
		if err := a.SetPublicURL(context.Background(), cfg.PublicURL); err != nil {
			return err
		}
	}
	settings, err := a.st.Settings()
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	if err := a.loadServerCert(cfg, settings.SANs); err != nil {
		return err
	}
	if err := a.ca.Tokens().SetAudience(cfg.JWTAudience); err != nil {
		return fmt.Errorf("load token keys: %w", err)
	}
	// Expired token records only take room: failing to drop them must not
	// keep the broker down.
	if _, err := a.ca.Tokens().Prune(); err != nil {
		a.log.Warn("prune expired tokens at start", "err", err)
	}
	// Held until the broker is installed, so a policy change made meanwhile
	// is either read here or applied to the installed broker.
	a.aclMu.Lock()
	defer a.aclMu.Unlock()
	pol, err := a.compiledPolicy()
	if err != nil {
		return err
	}
	modes := map[string]bool{broker.TransportMQTTS: true, broker.TransportWSS: true, broker.TransportHTTPS: true}
	for t, on := range settings.ClientAuth {
		modes[t] = on
	}
	br, err := broker.New(broker.Config{
		MQTTSAddr:      cfg.MQTTS,
		WSSAddr:        cfg.WSS,
		MQTTAddr:       cfg.MQTT,
		HTTPSAddr:      cfg.HTTPS,
		WSSOrigins:     cfg.WSSOrigins,
		ProxyFrom:      cfg.ProxyFrom,
		GetCertificate: a.server.GetCertificate,
		Authorizer:     a.ca,
		Policy:         pol,
		ClientAuth:     modes,
		AuthModes:      settings.AuthModes,
		Tokens:         tokenChecker{a.ca.Tokens()},
		Emit:           a.emit,
		OnPublish:      a.tele.Record,
		OnHandshake:    a.observeHandshake,
		Renew:          a.renewInBand,
		Logger:         a.log,
		Limits:         cfg.Limits,
	})
	if err != nil {
		return fmt.Errorf("configure broker: %w", err)
	}
	if err := br.Start(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.stopLog, a.logged = cancel, make(chan struct{})
	go a.logEvents(a.hub.Subscribe(ctx))
	// Installed (Close stops it and the log) before what follows starts:
	// the watch and the registry drop and kick sessions through it, and the
	// node announces its listeners.
	a.mu.Lock()
	a.br, a.bcfg = br, cfg
	a.mu.Unlock()
	subjects := a.hub.Subscribe(ctx)
	a.bg.Go(func() { a.trackSubjects(subjects) })
	a.bg.Go(func() { a.followStore(ctx) })
	a.startSessionRegistry(ctx)
	a.bg.Go(func() { a.probeEtcd(ctx) }) // after the registry: it claims the sessions again
	window := cfg.ExpiryWarning
	if window <= 0 {
		window = DefaultExpiryWarning
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		a.warnExpiring(ctx, window, expiryScan)
	}()
	return nil
}

// RotateServerCert reloads the operator's server certificate files, or
// issues a fresh server certificate, without restarting any listener: new
// handshakes get the new certificate, live sessions are untouched.
func (a *App) RotateServerCert(ctx context.Context) error {
	a.mu.Lock()
	cfg := a.bcfg
	a.mu.Unlock()
	settings, err := a.st.Settings()
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	if err := a.loadServerCert(cfg, settings.SANs); err != nil {
		return err
	}
	source := "issued by the internal CA"
	if cfg.ServerCertFile != "" {
		source = "reloaded from " + cfg.ServerCertFile
	}
	if _, err := a.st.AppendAudit(store.AuditRecord{At: a.now(), Actor: a.actorOf(ctx), Action: "server.rotate", Detail: source}); err != nil {
		return fmt.Errorf("audit server certificate rotation: %w", err)
	}
	return nil
}

// loadServerCert installs the operator's server certificate or issues one
// from the internal CA for the local names plus the configured SANs.
func (a *App) loadServerCert(cfg BrokerConfig, stored []string) error {
	if cfg.ServerCertFile != "" || cfg.ServerKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ServerCertFile, cfg.ServerKeyFile)
		if err != nil {
			return fmt.Errorf("load server certificate %s: %w", cfg.ServerCertFile, err)
		}
		a.server.Set(&cert)
		return nil
	}
	names := []string{"localhost", "127.0.0.1", "::1"}
	if host, err := os.Hostname(); err == nil && host != "" {
		names = append(names, host)
	}
	names = append(append(names, stored...), cfg.SANs...)
	cert, err := a.ca.IssueServer(names)
	if err != nil {
		return fmt.Errorf("issue server certificate: %w", err)
	}
	a.server.Set(cert)
	return nil
}

// broker returns the running broker or nil.
func (a *App) broker() *broker.Broker {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.br
}

// Close stops the broker (dropping its sessions) and closes the store.
func (a *App) Close() error {
	a.mu.Lock()
	br := a.br
	a.br = nil
	a.mu.Unlock()
	var errs []error
	if br != nil {
		errs = append(errs, br.Close())
		a.stopLog()
		<-a.logged
	}
	if a.stopMetrics != nil {
		a.stopMetrics()
		<-a.counted
	}
	a.bg.Wait()
	if reg := a.reg.Load(); reg != nil {
		errs = append(errs, reg.Close()) // this node's registry entries go at once
	}
	a.stopPersist() // after the broker's last disconnect events
	<-a.persisted
	errs = append(errs, a.st.Close())
	return errors.Join(errs...)
}

type actorKey struct{}

// WithActor returns a context whose admin actions are audited as actor.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// actor is who the audit log names for an action made with ctx.
func (a *App) actorOf(ctx context.Context) string {
	if s, ok := ctx.Value(actorKey{}).(string); ok && s != "" {
		return s
	}
	if a.actor != "" {
		return a.actor
	}
	return "unknown"
}

// SetLimits applies new broker limits live (see broker.Broker.SetLimits) and
// returns the flag names of those that need a restart.
func (a *App) SetLimits(l broker.Limits) ([]string, error) {
	br := a.broker()
	if br == nil {
		return nil, errors.New("no broker runs: limits apply when it starts")
	}
	return br.SetLimits(l)
}
