package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/store"
)

// Metrics are the App's Prometheus metrics on a registry of their own (with
// the Go and process collectors). Event counters are fed by a hub
// subscriber, gauges are read at scrape time, and the broker's totals come
// from its own counters: nothing is added to an MQTT client's path but the
// handshake timer.
type Metrics struct {
	reg *prometheus.Registry

	events      *prometheus.CounterVec
	connects    *prometheus.CounterVec
	refusals    *prometheus.CounterVec
	drops       *prometheus.CounterVec
	denials     prometheus.Counter
	lost        prometheus.Counter
	suspendDrop prometheus.Histogram
	handshake   *prometheus.HistogramVec

	labelMu sync.Mutex
	labels  map[string]struct{} // reason and cause label values seen, bounded
}

// maxReasonLabels bounds the distinct reason and cause label values: beyond
// it they count as "other", so odd client errors cannot grow the series.
const maxReasonLabels = 200

// Metrics returns the App's metrics, starting their event subscription on
// first use; Close ends it.
func (a *App) Metrics() *Metrics {
	a.metricsOnce.Do(func() {
		m := newMetrics(a)
		ctx, cancel := context.WithCancel(context.Background())
		a.stopMetrics, a.counted = cancel, make(chan struct{})
		go m.count(a.hub.Subscribe(ctx), a.counted)
		a.metrics.Store(m)
	})
	return a.metrics.Load()
}

// Registry is what an HTTP handler serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func newMetrics(a *App) *Metrics {
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		labels: map[string]struct{}{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_events_total", Help: "Events by type (connected, disconnected, refused, denied, dropped, cert_state, mtls, ...).",
		}, []string{"type"}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_connects_total", Help: "MQTT sessions established, by transport.",
		}, []string{"transport"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_refusals_total", Help: "Connections refused, by transport and reason.",
		}, []string{"transport", "reason"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_disconnects_total", Help: "Sessions ended, by cause (client disconnect, suspended by operator, ...).",
		}, []string{"cause"}),
		denials: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_denials_total", Help: "Publishes and subscriptions denied by the topic ACL.",
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_metrics_events_lost_total", Help: "Times the metrics fell behind the event stream and missed events.",
		}),
		suspendDrop: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gatehouse_suspend_drop_seconds", Help: "From an operator's suspend or revoke to its live sessions closed.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		handshake: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_tls_handshake_seconds", Help: "TLS handshake duration, by transport and result (ok, failed).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"transport", "result"}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.events, m.connects, m.refusals, m.drops, m.denials, m.lost, m.suspendDrop, m.handshake, &scrape{a: a})
	return m
}

// count feeds the event counters until ch closes.
func (m *Metrics) count(ch <-chan broker.Event, done chan struct{}) {
	defer close(done)
	for e := range ch {
		if e.Type == broker.EventResync {
			m.lost.Inc()
			continue
		}
		m.events.WithLabelValues(e.Type).Inc()
		switch e.Type {
		case broker.EventConnected:
			m.connects.WithLabelValues(e.Transport).Inc()
		case broker.EventRefused:
			m.refusals.WithLabelValues(e.Transport, m.label(e.Reason)).Inc()
		case broker.EventDisconnected:
			m.drops.WithLabelValues(m.label(e.Reason)).Inc()
		case "denied":
			m.denials.Inc()
		}
	}
}

// label turns a reason into a bounded label value: the text before its
// first ": " (the kind, without details such as a TLS error message).
func (m *Metrics) label(reason string) string {
	kind, _, _ := strings.Cut(reason, ": ")
	if kind == "" {
		kind = "unknown"
	}
	m.labelMu.Lock()
	defer m.labelMu.Unlock()
	if _, ok := m.labels[kind]; !ok {
		if len(m.labels) >= maxReasonLabels {
			return "other"
		}
		m.labels[kind] = struct{}{}
	}
	return kind
}

// observeHandshake is the broker's OnHandshake.
func (a *App) observeHandshake(transport string, took time.Duration, ok bool) {
	if m := a.metrics.Load(); m != nil {
		result := "ok"
		if !ok {
			result = "failed"
		}
		m.handshake.WithLabelValues(transport, result).Observe(took.Seconds())
	}
}

// observeSuspendDrop records how long a suspend or revoke took to close the
// certificate's live sessions.
func (a *App) observeSuspendDrop(took time.Duration) {
	if m := a.metrics.Load(); m != nil {
		m.suspendDrop.Observe(took.Seconds())
	}
}

// scrape collects what is read at scrape time: live sessions, certificates,
// the nearest expiry, the store's size and the broker's totals.
type scrape struct{ a *App }

var (
	descSessions = prometheus.NewDesc("gatehouse_sessions", "Live MQTT sessions, by transport.", []string{"transport"}, nil)
	descCerts    = prometheus.NewDesc("gatehouse_certificates", "Client certificates, by state (expired overrides active, inactive and suspended) and issuer.", []string{"state", "issuer"}, nil)
	descExpiry   = prometheus.NewDesc("gatehouse_certificate_nearest_expiry_seconds", "Seconds until the soonest active client certificate expires (absent when none is active).", nil, nil)
	descStore    = prometheus.NewDesc("gatehouse_store_size_bytes", "Size of the store file.", nil, nil)
	descMsgsIn   = prometheus.NewDesc("gatehouse_messages_received_total", "PUBLISH packets received from clients.", nil, nil)
	descMsgsOut  = prometheus.NewDesc("gatehouse_messages_sent_total", "PUBLISH packets sent to clients.", nil, nil)
	descBytesIn  = prometheus.NewDesc("gatehouse_bytes_received_total", "Bytes received from MQTT clients.", nil, nil)
	descBytesOut = prometheus.NewDesc("gatehouse_bytes_sent_total", "Bytes sent to MQTT clients.", nil, nil)
	descDropped  = prometheus.NewDesc("gatehouse_messages_dropped_total", "Messages dropped because a slow subscriber's outbound queue was full.", nil, nil)
)

// Describe implements prometheus.Collector.
func (s *scrape) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descCerts, descExpiry, descStore, descMsgsIn, descMsgsOut, descBytesIn, descBytesOut, descDropped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *scrape) Collect(ch chan<- prometheus.Metric) {
	a := s.a
	if br := a.broker(); br != nil {
		perTransport := map[string]int{}
		for _, t := range br.Transports() {
			perTransport[t.Name] = 0
		}
		for _, ss := range br.Sessions() {
			perTransport[ss.Transport]++
		}
		for t, n := range perTransport {
			ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(n), t)
		}
		st := br.Stats()
		for d, v := range map[*prometheus.Desc]int64{descMsgsIn: st.MessagesIn, descMsgsOut: st.MessagesOut,
			descBytesIn: st.BytesIn, descBytesOut: st.BytesOut, descDropped: st.Dropped} {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
		}
	}
	if certs, err := a.certs.index(a.st); err == nil {
		now := a.now()
		type key struct{ state, issuer string }
		counts := map[key]int{}
		var nearest time.Time
		for _, cs := range certs {
			c := store.Cert{State: cs.State, NotAfter: cs.NotAfter, Issuer: cs.Issuer}
			counts[key{c.DisplayState(now), c.Issuer}]++
			if c.State == store.StateActive && !c.Expired(now) && (nearest.IsZero() || c.NotAfter.Before(nearest)) {
				nearest = c.NotAfter
			}
		}
		for k, n := range counts {
			ch <- prometheus.MustNewConstMetric(descCerts, prometheus.GaugeValue, float64(n), k.state, k.issuer)
		}
		if !nearest.IsZero() {
			ch <- prometheus.MustNewConstMetric(descExpiry, prometheus.GaugeValue, nearest.Sub(now).Seconds())
		}
	}
	if fi, err := os.Stat(a.st.Path()); err == nil {
		ch <- prometheus.MustNewConstMetric(descStore, prometheus.GaugeValue, float64(fi.Size()))
	}
}

// Ready reports whether the App can serve: its store answers a read and,
// once a broker was started, every listener is bound.
func (a *App) Ready() error {
	if p := a.posture(); p != nil && p.Offline {
		return errors.New(p.Line())
	}
	if _, err := a.st.Settings(); err != nil {
		return err
	}
	if br := a.broker(); br != nil {
		for _, t := range br.Transports() {
			if t.Addr == "" {
				return fmt.Errorf("%s is not listening", t.Name)
			}
		}
	}
	return nil
}
