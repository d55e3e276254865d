// Package demo simulates a fleet of devices for `gatehouse demo`: real MQTT
// clients (paho) over real mTLS sockets, each with its own certificate issued
// by the same PKI an operator uses. Telemetry devices publish Kaa-style JSON
// every second; a device without a certificate and one whose certificate comes
// from a foreign CA keep trying, so refusals show up next to the traffic.
//
// Devices behave like real ones: when dropped or refused they retry with
// jittered exponential backoff, reset after every successful connect, so a
// reactivated certificate is back within a few seconds.
//
// The package never writes to stdout or stderr, which belong to the TUI; it
// logs through the *slog.Logger it is given.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Names of the devices the fleet always adds to the telemetry devices.
const (
	NoCertDevice  = "no-cert-device" // one-way TLS, no client certificate
	ForeignDevice = "foreign-device" // certificate from a CA the broker does not trust
)

// Defaults of Config.
const (
	DefaultDevices    = 5
	DefaultAppVersion = "demo-v1"
	DefaultServerName = "localhost" // always among the server certificate's SANs
	DefaultInterval   = time.Second
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
)

// Config describes a fleet. Zero fields take the defaults above.
type Config struct {
	Issuer  Issuer // issues the telemetry devices' certificates
	Addr    string // host:port of the broker's mqtts listener (see DialAddr)
	RootPEM []byte // the root CA the devices verify the server with (ca.pem)

	Devices    int    // telemetry devices, named device-1 .. device-N
	AppVersion string // Kaa application version in the topic kp1/<version>/dcx/<endpoint>/json
	ServerName string // name verified in the server certificate
	Interval   time.Duration
	MinBackoff time.Duration // first retry delay, and the delay after a dropped session
	MaxBackoff time.Duration // retry delays double up to this
	// KeyDir, when set, keeps each device's ca.pem, client.crt and client.key
	// in KeyDir/<name>/ (for the presenter to show or reuse with another MQTT
	// client) and reuses valid ones on the next run.
	KeyDir string
	Logger *slog.Logger // nil discards
	Now    func() time.Time
}

// Kind says how a device authenticates.
type Kind string

// Device kinds.
const (
	KindTelemetry Kind = "telemetry" // a certificate from our PKI
	KindNoCert    Kind = "no-cert"   // no client certificate
	KindForeign   Kind = "foreign"   // a certificate from a foreign CA
)

// Status is what one device has been through, for tests and displays.
type Status struct {
	Name        string    `json:"name"` // also its MQTT client ID and Kaa endpoint
	Kind        Kind      `json:"kind"`
	Serial      string    `json:"serial,omitempty"` // empty without a certificate
	Topic       string    `json:"topic"`
	Connected   bool      `json:"connected"`
	Attempts    int       `json:"attempts"` // connection attempts
	Connects    int       `json:"connects"` // attempts that got a session
	Published   uint64    `json:"published"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at"`
}

// Fleet is a set of simulated devices. Start and Stop may be called from any
// goroutine; Status is safe to call at any time.
type Fleet struct {
	cfg     Config
	devices []*device

	mu      sync.Mutex // guards cancel and started
	cancel  context.CancelFunc
	started bool
	wg      sync.WaitGroup
}

// DeviceName is the name of the i-th telemetry device (from 1).
func DeviceName(i int) string { return fmt.Sprintf("device-%d", i) }

// New prepares a fleet: it issues (or reuses, see Config.KeyDir) the
// telemetry devices' certificates and makes the foreign one. No connection
// is made before Start.
func New(ctx context.Context, cfg Config) (*Fleet, error) {
	if cfg.Issuer == nil || cfg.Addr == "" {
		return nil, errors.New("demo fleet needs an issuer and the mqtts address")
	}
	cfg = withDefaults(cfg)
	pool, err := rootPool(cfg.RootPEM)
	if err != nil {
		return nil, fmt.Errorf("demo fleet: %w", err)
	}
	if err := makeKeyDir(cfg.KeyDir); err != nil {
		return nil, err
	}
	f := &Fleet{cfg: cfg}
	now := cfg.Now()
	for i := 1; i <= cfg.Devices; i++ {
		name := DeviceName(i)
		id, err := deviceIdentity(ctx, cfg.Issuer, cfg.KeyDir, name, now)
		if err != nil {
			return nil, err
		}
		f.devices = append(f.devices, newDevice(cfg, name, KindTelemetry, clientTLS(pool, cfg.ServerName, id), id.serial, int64(i)))
	}
	foreign, err := foreignIdentity(ForeignDevice, now)
	if err != nil {
		return nil, err
	}
	f.devices = append(f.devices,
		newDevice(cfg, NoCertDevice, KindNoCert, clientTLS(pool, cfg.ServerName, identity{}), "", int64(cfg.Devices+1)),
		newDevice(cfg, ForeignDevice, KindForeign, clientTLS(pool, cfg.ServerName, foreign), foreign.serial, int64(cfg.Devices+2)))
	return f, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Devices <= 0 {
		cfg.Devices = DefaultDevices
	}
	if cfg.AppVersion == "" {
		cfg.AppVersion = DefaultAppVersion
	}
	if cfg.ServerName == "" {
		cfg.ServerName = DefaultServerName
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// Start connects every device; each keeps running until ctx ends or Stop is
// called. A fleet starts once.
func (f *Fleet) Start(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started {
		return errors.New("demo fleet already started")
	}
	f.started = true
	ctx, f.cancel = context.WithCancel(ctx)
	for _, d := range f.devices {
		f.wg.Go(func() { d.run(ctx) })
	}
	f.cfg.Logger.Info("demo fleet started", "telemetry_devices", f.cfg.Devices, "clients", len(f.devices), "addr", f.cfg.Addr)
	return nil
}

// Stop disconnects every device and returns once all their goroutines,
// paho's included, have ended. It is safe to call more than once.
func (f *Fleet) Stop() {
	f.mu.Lock()
	cancel := f.cancel
	f.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	f.wg.Wait()
}

// Status reports every device: telemetry devices in order, then the no-cert
// and the foreign device.
func (f *Fleet) Status() []Status {
	out := make([]Status, len(f.devices))
	for i, d := range f.devices {
		out[i] = d.status()
	}
	return out
}
