package main

import (
	"github.com/spf13/pflag"

	"github.com/gatehouse/gatehouse/broker"
)

// registerLimits defines the limit flags of serve, the TUI and demo, each
// defaulting to broker.DefaultLimits (README "Limits" lists what a client
// sees when it hits one).
func registerLimits(fs *pflag.FlagSet, l *broker.Limits) {
	d := broker.DefaultLimits()
	fs.IntVar(&l.MaxPacketSize, "max-packet-size", d.MaxPacketSize, "largest MQTT packet accepted, in `BYTES`; told to MQTT 5 clients in CONNACK, larger ones end the session (DISCONNECT 0x95)")
	fs.IntVar(&l.MaxInflight, "max-inflight", d.MaxInflight, "`N` unacknowledged QoS 1/2 messages per client and direction (Receive Maximum; more from the client: DISCONNECT 0x93)")
	fs.IntVar(&l.MaxQueued, "max-queued", d.MaxQueued, "`N` messages queued for a slow client; more are dropped, counted (dropped_out) and reported")
	fs.IntVar(&l.MaxMsgRate, "max-msg-rate", d.MaxMsgRate, "`N` PUBLISH packets per second per client, 1 s burst; more: DISCONNECT 0x96 (0 = unlimited)")
	fs.IntVar(&l.MaxByteRate, "max-byte-rate", d.MaxByteRate, "PUBLISH `BYTES` per second per client; more: DISCONNECT 0x96 (0 = unlimited)")
	fs.IntVar(&l.MaxSubscriptions, "max-subscriptions", d.MaxSubscriptions, "`N` subscriptions per client; filters past it get SUBACK 0x97, 0x80 on MQTT 3.1.1 (0 = unlimited)")
	fs.IntVar(&l.MaxConns, "max-conns", d.MaxConns, "`N` open connections in total, refused at accept (0 = unlimited)")
	fs.IntVar(&l.MaxConnsPerIP, "max-conns-per-ip", d.MaxConnsPerIP, "`N` open connections per source IP, refused at accept (0 = unlimited)")
	fs.IntVar(&l.MaxKeepalive, "max-keepalive", d.MaxKeepalive, "longest keep alive in `SECONDS`, also for clients asking none; MQTT 5 clients get Server Keep Alive (0 = no cap)")
	fs.IntVar(&l.MaxRetained, "max-retained", d.MaxRetained, "`N` retained messages kept; past it a message is delivered but not retained (0 = unlimited)")
	fs.IntVar(&l.MaxRetainedBytes, "max-retained-bytes", d.MaxRetainedBytes, "total payload `BYTES` of retained messages kept (0 = unlimited)")
}

// demoConnsSlack leaves room beside the demo's devices for the operator's
// own clients on the same host.
const demoConnsSlack = 16

// fitDemoFleet raises the per-IP connection cap so that every simulated
// device, all of them on this host, gets in; an explicit --max-conns-per-ip
// is kept.
func fitDemoFleet(fs *pflag.FlagSet, l *broker.Limits, devices int) {
	if !fs.Changed("max-conns-per-ip") && l.MaxConnsPerIP > 0 {
		l.MaxConnsPerIP = max(l.MaxConnsPerIP, devices+demoConnsSlack)
	}
}
