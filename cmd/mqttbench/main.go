// Command mqttbench is a load generator for any MQTT broker over TLS with
// client certificates: full mTLS connects, paced or unpaced publish/subscribe
// with loss and latency, idle connections held, and the time a certificate
// suspension takes to close every session of that certificate. It speaks raw
// MQTT 3.1.1 through mochi's packets package rather than a client library,
// so that 5,000 held connections cost one goroutine each and nothing in the
// generator hides a broker's behaviour. It refuses non-loopback brokers unless
// told otherwise, and every run is bounded in count and time.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2

	maxDuration = 10 * time.Minute
	maxConns    = 100_000
	maxCount    = 100_000_000
)

// usageErr marks an error as the caller's mistake (exit 2).
type usageErr struct{ err error }

func (e usageErr) Error() string { return e.err.Error() }
func (e usageErr) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "mqttbench: "+strings.Join(strings.Fields(err.Error()), " "))
	var u usageErr
	if errors.As(err, &u) || strings.HasPrefix(err.Error(), "unknown ") {
		fmt.Fprintln(stderr, "run 'mqttbench --help' for usage")
		return exitUsage
	}
	return exitError
}

// common are the flags every mode shares.
type common struct {
	target   targetFlags
	duration time.Duration
	proc     brokerProc
	json     bool
	stdout   io.Writer
	stderr   io.Writer
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &common{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "mqttbench",
		Short: "Load generator for MQTT brokers over mTLS",
		Long: `mqttbench loads an MQTT broker over TLS with client certificates and reports
medians, p50/p99 latencies, rates and errors, as text or --json. Certificates
come from --cert/--key or --cert-dir DIR (NAME/client.crt + NAME/client.key, as
'gatehouse cert create --out DIR/NAME' writes them, or NAME.crt + NAME.key),
used round-robin. Several --port values (a cluster's nodes) spread the
connections over them in turn. Only loopback brokers unless --allow-remote.`,
		Example: `  mqttbench connect --port 8883 --ca ca.pem --cert-dir certs --count 1000 --workers 4
  mqttbench pubsub --ca ca.pem --cert-dir certs --publishers 10 --rate 20000 --duration 10s
  mqttbench idle --ca ca.pem --cert-dir certs --conns 5000 --duration 30s --ready-file /tmp/ready
  mqttbench suspend --ca ca.pem --cert-dir certs --victim dev1 --sessions 1000 --others 4000 \
      --trigger 'gatehouse cert suspend dev1'
  mqttbench suspend --port 8883,8884,8885 --ca ca.pem --cert-dir certs --sessions 1000 --others 0 \
      --trigger 'gatehouse --data n1 cert suspend dev1'`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr{err} })
	f := root.PersistentFlags()
	f.StringVar(&g.target.host, "host", "127.0.0.1", "broker host (loopback unless --allow-remote)")
	f.IntSliceVar(&g.target.ports, "port", []int{8883}, "broker TLS port; several (repeated or comma-separated: one cluster's nodes) are dialled in turn")
	f.StringVar(&g.target.ca, "ca", "", "CA certificates (PEM) that verify the broker")
	f.StringVar(&g.target.cert, "cert", "", "client certificate chain (PEM)")
	f.StringVar(&g.target.key, "key", "", "client private key (PEM) for --cert")
	f.StringVar(&g.target.dir, "cert-dir", "", "directory of client certificates, used round-robin")
	f.StringVar(&g.target.serverName, "server-name", "", "name to verify in the broker's certificate (default --host)")
	f.StringVar(&g.target.curves, "curves", "", "TLS key exchanges to offer, in order: x25519,p256,p384,x25519mlkem768 (default Go's)")
	f.BoolVar(&g.target.insecure, "insecure-skip-verify", false, "do not verify the broker's certificate (tests only)")
	f.BoolVar(&g.target.allowRemote, "allow-remote", false, "allow a broker that is not on loopback")
	f.DurationVar(&g.target.keepalive, "keepalive", 60*time.Second, "MQTT keepalive; held sessions ping at half of it")
	f.DurationVar(&g.target.timeout, "timeout", 10*time.Second, "bound on each dial, handshake, CONNACK and SUBACK")
	f.DurationVar(&g.duration, "duration", 10*time.Second, "bound on the run (at most 10m); idle: how long to hold")
	f.BoolVar(&g.json, "json", false, "print the report as JSON")
	f.IntVar(&g.proc.pid, "broker-pid", 0, "broker process on this machine: report its CPU (and idle: memory) from /proc")
	root.AddCommand(newConnect(g), newPubsub(g), newIdle(g), newSuspend(g))
	return root
}

// prepare validates the shared flags and builds the target.
func (g *common) prepare() (*target, error) {
	if g.duration <= 0 || g.duration > maxDuration {
		return nil, usageErr{fmt.Errorf("--duration %s: want more than 0 and at most %s", g.duration, maxDuration)}
	}
	if err := g.proc.check(); err != nil {
		return nil, err
	}
	return g.target.build()
}

// report prints v as JSON or as text, then fails if the broker's figures
// could not be read.
func (g *common) report(v any, text func(io.Writer), bs *brokerStats) error {
	if g.json {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return err
		}
	} else {
		text(g.stdout)
		bs.print(g.stdout)
	}
	return bs.err()
}

// between checks that a flag's value lies in [lo, hi].
func between(name string, v, lo, hi int) error {
	if v < lo || v > hi {
		return usageErr{fmt.Errorf("--%s %d: want %d to %d", name, v, lo, hi)}
	}
	return nil
}

func newConnect(g *common) *cobra.Command {
	var o connectOpts
	c := &cobra.Command{
		Use:   "connect",
		Short: "Full connects: TCP, mTLS handshake, CONNECT/CONNACK, DISCONNECT",
		Long: `Each worker connects, waits for CONNACK, disconnects and starts over, until
--count connects were attempted or --duration passed. Handshakes are full
unless --resume offers TLS session resumption per certificate.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := errors.Join(between("workers", o.workers, 1, 1000), between("count", o.count, 0, maxCount)); err != nil {
				return err
			}
			t, err := g.prepare()
			if err != nil {
				return err
			}
			o.duration, o.proc = g.duration, g.proc
			r := runConnect(cmd.Context(), t, o)
			if err := g.report(r, r.text, r.Broker); err != nil {
				return err
			}
			if r.Connects == 0 {
				return fmt.Errorf("no connect succeeded (%d errors)", r.Errors.Total)
			}
			return nil
		},
	}
	c.Flags().IntVar(&o.workers, "workers", 4, "concurrent connecting workers")
	c.Flags().IntVar(&o.count, "count", 0, "total connects (0: until --duration)")
	c.Flags().BoolVar(&o.resume, "resume", false, "offer TLS session resumption (default: every handshake full)")
	return c
}

func newPubsub(g *common) *cobra.Command {
	var o pubsubOpts
	var qos int
	c := &cobra.Command{
		Use:   "pubsub",
		Short: "P publishers to S subscribers, paced or unpaced, with loss and latency",
		Long: `Subscribers subscribe to TOPIC/# first; publisher i then publishes to TOPIC/p<i>.
Each payload carries its send time, so every subscriber measures the latency of
each delivery and counts what it did not get. --rate is the total offered rate
over all publishers (0: as fast as the sockets take). {cn} in --topic is each
client's certificate CN (for brokers whose ACLs confine a client to its CN).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := errors.Join(
				between("publishers", o.publishers, 1, 1000), between("subscribers", o.subscribers, 1, 1000),
				between("qos", qos, 0, 1), between("size", o.size, header, 256<<10),
				between("count", o.count, 0, maxCount), between("inflight", o.inflight, 1, 65535))
			if o.rate < 0 {
				err = errors.Join(err, usageErr{fmt.Errorf("--rate %g: want 0 (unpaced) or more", o.rate)})
			}
			if o.topic == "" || strings.ContainsAny(o.topic, "+#") {
				err = errors.Join(err, usageErr{fmt.Errorf("--topic %q: want a topic without wildcards", o.topic)})
			}
			if o.drain < 0 || o.drain > time.Minute {
				err = errors.Join(err, usageErr{fmt.Errorf("--drain %s: want 0 to 1m", o.drain)})
			}
			if err != nil {
				return err
			}
			t, err := g.prepare()
			if err != nil {
				return err
			}
			o.qos, o.duration, o.proc = byte(qos), g.duration, g.proc
			r, err := runPubsub(cmd.Context(), t, o)
			if err != nil {
				return err
			}
			return g.report(r, r.text, r.Broker)
		},
	}
	c.Flags().IntVar(&o.publishers, "publishers", 1, "publishing connections")
	c.Flags().IntVar(&o.subscribers, "subscribers", 1, "subscribing connections (each gets every message)")
	c.Flags().IntVar(&qos, "qos", 0, "QoS of publishes and subscriptions: 0 or 1")
	c.Flags().Float64Var(&o.rate, "rate", 0, "total offered messages per second (0: unpaced)")
	c.Flags().IntVar(&o.size, "size", 64, fmt.Sprintf("payload bytes (at least %d: send time, publisher, sequence)", header))
	c.Flags().IntVar(&o.count, "count", 0, "total messages (0: until --duration)")
	c.Flags().StringVar(&o.topic, "topic", "bench", "topic prefix; {cn} is the client's certificate CN")
	c.Flags().DurationVar(&o.drain, "drain", 2*time.Second, "how long to wait for the last deliveries")
	c.Flags().IntVar(&o.inflight, "inflight", 64, "QoS 1: unacknowledged publishes per publisher")
	return c
}

func newIdle(g *common) *cobra.Command {
	var o idleOpts
	c := &cobra.Command{
		Use:   "idle",
		Short: "Open N connections and hold them for --duration",
		Long: `Opens --conns sessions (--workers at a time), writes --ready-file once every
session that could open is open (for a script that samples the broker's memory
then), holds them for --duration with keepalive pings and reports how many held.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := errors.Join(between("conns", o.conns, 1, maxConns), between("workers", o.workers, 1, 1000)); err != nil {
				return err
			}
			t, err := g.prepare()
			if err != nil {
				return err
			}
			if o.settle < 0 || o.settle > maxDuration {
				return usageErr{fmt.Errorf("--rss-settle %s: want 0 to %s", o.settle, maxDuration)}
			}
			o.duration, o.proc = g.duration, g.proc
			r, err := runIdle(cmd.Context(), t, o)
			if err != nil {
				return err
			}
			if err := g.report(r, r.text, r.Broker); err != nil {
				return err
			}
			if r.Held < r.Conns {
				return fmt.Errorf("held %d of %d connections", r.Held, r.Conns)
			}
			return nil
		},
	}
	c.Flags().IntVar(&o.conns, "conns", 100, "connections to open and hold")
	c.Flags().IntVar(&o.workers, "workers", 8, "concurrent connecting workers")
	c.Flags().StringVar(&o.readyFile, "ready-file", "", "write the number of open connections here once open")
	c.Flags().DurationVar(&o.settle, "rss-settle", time.Second, "with --broker-pid: how long after opening to sample the broker's VmRSS")
	return c
}

func newSuspend(g *common) *cobra.Command {
	var o suspendOpts
	var victim, trigger string
	c := &cobra.Command{
		Use:   "suspend",
		Short: "Time from a certificate suspension to the last EOF of its sessions",
		Long: `Opens --sessions sessions on the --victim certificate and --others sessions on
the other certificates of --cert-dir, then runs --trigger (sh -c) and measures
from its start to the EOF of the last victim session; the others must stay up.
Without --trigger it waits for an operator and measures from the first EOF.
--duration bounds the wait.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := errors.Join(between("sessions", o.sessions, 1, maxConns), between("others", o.others, 0, maxConns),
				between("workers", o.workers, 1, 1000))
			if o.settle < 0 || o.settle > time.Minute {
				err = errors.Join(err, usageErr{fmt.Errorf("--settle %s: want 0 to 1m", o.settle)})
			}
			if err != nil {
				return err
			}
			t, err := g.prepare()
			if err != nil {
				return err
			}
			if o.victim, err = victimIndex(t, victim, o.others); err != nil {
				return err
			}
			if trigger != "" {
				o.trigger, o.triggerDesc = commandTrigger(trigger, g.stderr), trigger
			}
			o.duration, o.notify, o.proc = g.duration, g.stderr, g.proc
			r, verdict := runSuspend(cmd.Context(), t, o)
			if err := g.report(r, r.text, r.Broker); err != nil {
				return err
			}
			return verdict
		},
	}
	c.Flags().IntVar(&o.sessions, "sessions", 10, "sessions on the victim certificate")
	c.Flags().IntVar(&o.others, "others", 10, "sessions on the other certificates, round-robin")
	c.Flags().IntVar(&o.workers, "workers", 8, "concurrent connecting workers")
	c.Flags().StringVar(&victim, "victim", "", "NAME in --cert-dir of the certificate to suspend (default the first)")
	c.Flags().StringVar(&trigger, "trigger", "", "command (sh -c) that suspends the victim, e.g. 'gatehouse cert suspend dev1'")
	c.Flags().DurationVar(&o.settle, "settle", 200*time.Millisecond, "after the last EOF, how long the others must stay up")
	return c
}

// victimIndex finds the victim identity by name (default the first) and
// checks there are other certificates for the others.
func victimIndex(t *target, name string, others int) (int, error) {
	if t.ids[0].tls.Certificates == nil {
		return 0, usageErr{errors.New("suspend needs client certificates: --cert-dir DIR or --cert/--key")}
	}
	if others > 0 && len(t.ids) < 2 {
		return 0, usageErr{errors.New("--others needs a second certificate: use --cert-dir with at least two")}
	}
	if name == "" {
		return 0, nil
	}
	for i, id := range t.ids {
		if id.name == name {
			return i, nil
		}
	}
	return 0, usageErr{fmt.Errorf("--victim %s: no such certificate in --cert-dir", name)}
}
