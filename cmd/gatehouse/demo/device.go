package demo

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Session timings. connectTimeout bounds one attempt (dial, TLS handshake,
// CONNACK) and therefore how long Stop can wait for a device mid-connect.
const (
	connectTimeout = 3 * time.Second
	writeTimeout   = 2 * time.Second
	keepAlive      = 30 * time.Second
	quiesce        = 250 // ms paho waits for in-flight work on disconnect
)

// device is one simulated MQTT client. Its loop runs in one goroutine; mu
// guards only st, which Status reads from other goroutines.
type device struct {
	name  string
	kind  Kind
	topic string
	addr  string
	tls   *tls.Config
	cfg   Config
	log   *slog.Logger
	rng   *rand.Rand // used by the loop goroutine only
	temp  walk
	humid walk

	mu sync.Mutex
	st Status
}

func newDevice(cfg Config, name string, kind Kind, tlsConf *tls.Config, serial string, seed int64) *device {
	topic := fmt.Sprintf("kp1/%s/dcx/%s/json", cfg.AppVersion, name)
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(cfg.Now().UnixNano())))
	return &device{
		name: name, kind: kind, topic: topic, addr: cfg.Addr, tls: tlsConf, cfg: cfg,
		log:   cfg.Logger.With("device", name),
		rng:   rng,
		temp:  walk{value: 21 + rng.Float64()*2 - 1, mean: 21, step: 0.2, spread: 3},
		humid: walk{value: 45 + rng.Float64()*6 - 3, mean: 45, step: 0.8, spread: 10},
		st:    Status{Name: name, Kind: kind, Serial: serial, Topic: topic},
	}
}

func (d *device) status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}

// update applies fn to the status under the lock.
func (d *device) update(fn func(*Status)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn(&d.st)
}

// run connects, publishes until the session ends, and retries with jittered
// exponential backoff until ctx ends. A session that was established resets
// the backoff, so a device dropped for a suspension retries quickly and one
// whose certificate is reactivated is back within MaxBackoff.
func (d *device) run(ctx context.Context) {
	backoff := d.cfg.MinBackoff
	for {
		connected, err := d.session(ctx)
		d.update(func(s *Status) { s.Connected = false })
		if ctx.Err() != nil {
			return
		}
		if connected {
			backoff = d.cfg.MinBackoff
		}
		d.update(func(s *Status) { s.LastError, s.LastErrorAt = err.Error(), d.cfg.Now() })
		wait := d.jitter(backoff)
		d.log.Debug("demo device will retry", "err", err, "in", wait)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, d.cfg.MaxBackoff)
	}
}

// jitter spreads retries over [backoff/2, backoff] so that refused devices
// do not knock in step.
func (d *device) jitter(backoff time.Duration) time.Duration {
	half := backoff / 2
	return half + time.Duration(d.rng.Int64N(int64(half)+1))
}

// session makes one connection attempt and, once connected, publishes every
// Interval until the broker drops it or ctx ends. It reports whether a session
// was established and, unless ctx ended, why it is over. It returns only after
// paho has stopped its goroutines for this client.
func (d *device) session(ctx context.Context) (bool, error) {
	lost := make(chan error, 1)
	opts := paho.NewClientOptions().
		AddBroker("tls://" + d.addr).
		SetClientID(d.name).
		// Our own dial: bound by ctx, so Stop aborts an attempt in flight, and
		// deaf to $all_proxy, which must not reroute a loopback demo.
		SetCustomOpenConnectionFn(func(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: connectTimeout}, Config: d.tls}
			return dialer.DialContext(ctx, "tcp", uri.Host)
		}).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(writeTimeout).
		SetKeepAlive(keepAlive).
		SetCleanSession(true).
		// Explicit 3.1.1: otherwise paho retries a refused CONNECT as MQTT 3.1,
		// and every attempt would show up twice in Activity.
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOrderMatters(false).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	c := paho.NewClient(opts)
	d.update(func(s *Status) { s.Attempts++ })
	tok := c.Connect()
	<-tok.Done() // bounded by connectTimeout
	if err := tok.Error(); err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	d.update(func(s *Status) { s.Connected, s.Connects = true, s.Connects+1 })
	d.log.Info("demo device connected", "topic", d.topic)
	ticker := time.NewTicker(d.cfg.Interval)
	defer ticker.Stop()
	for {
		if err := d.publish(c); err != nil {
			d.log.Debug("demo device publish failed", "err", err)
		}
		select {
		case <-ctx.Done():
			c.Disconnect(quiesce)
			return true, nil
		case err := <-lost:
			d.log.Info("demo device dropped", "err", err)
			return true, fmt.Errorf("connection lost: %w", err)
		case <-ticker.C:
		}
	}
}

// sample is one Kaa data-collection record.
type sample struct {
	Timestamp   int64   `json:"timestamp"` // unix milliseconds
	Temperature float64 `json:"temperature"`
	Humidity    float64 `json:"humidity"`
}

// publish sends the next sample at QoS 0, as a sensor that may lose a
// reading would; the token completes once paho has queued it.
func (d *device) publish(c paho.Client) error {
	payload, err := json.Marshal([]sample{{
		Timestamp:   d.cfg.Now().UnixMilli(),
		Temperature: round(d.temp.next(d.rng), 1),
		Humidity:    round(d.humid.next(d.rng), 1),
	}})
	if err != nil {
		return fmt.Errorf("encode sample: %w", err)
	}
	tok := c.Publish(d.topic, 0, false, payload)
	if !tok.WaitTimeout(writeTimeout) {
		return errors.New("publish: timed out")
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	d.update(func(s *Status) { s.Published++ })
	return nil
}

// walk is a mean-reverting random walk kept within mean±spread, so a chart
// looks like a sensor rather than noise or a drift off the scale.
type walk struct {
	value, mean, step, spread float64
}

func (w *walk) next(rng *rand.Rand) float64 {
	pull := (w.mean - w.value) * 0.05
	w.value += pull + (rng.Float64()*2-1)*w.step
	w.value = math.Max(w.mean-w.spread, math.Min(w.mean+w.spread, w.value))
	return w.value
}

func round(v float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(v*p) / p
}
