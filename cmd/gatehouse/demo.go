package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/demo"
	"github.com/gatehouse/gatehouse/ui"
)

// maxDemoDevices keeps startup quick: each device costs an issuance (a key
// and a store commit) before the TUI opens.
const maxDemoDevices = 1000

// demoOptions are the demo's own flags.
type demoOptions struct {
	devices int
	noTUI   bool
	tour    bool
}

func newDemo(g *globals) *cobra.Command {
	var bf brokerFlags
	var o demoOptions
	c := &cobra.Command{
		Use:   "demo",
		Short: "A live walkthrough: the broker, the TUI and simulated devices",
		Long: `Start a broker with client-cert auth on, simulated devices and the TUI, in one
command. The devices are real MQTT clients over mTLS, each with a certificate
from this PKI, publishing Kaa-style telemetry every second to
kp1/demo-v1/dcx/<device>/json. Two more keep trying and are refused: one
without a certificate, one with a certificate from a foreign CA. Suspend a
device and it drops; reactivate it and it is back within seconds.

Without --data the demo runs in a throwaway directory, removed on exit
($GATEHOUSE_DATA is ignored so a demo never touches a real store). The usual
ports are used when free, otherwise random loopback ports.`,
		Example: `  gatehouse demo                       # TUI with 5 devices
  gatehouse demo --tour --devices 8    # step-by-step guide in the status area
  gatehouse demo --no-tui --data ./d   # headless; attach with: gatehouse --data ./d`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.devices < 1 || o.devices > maxDemoDevices {
				return usageErr{Err: fmt.Errorf("--devices %d: use 1 to %d", o.devices, maxDemoDevices)}
			}
			if o.tour && o.noTUI {
				return usageErr{Err: fmt.Errorf("--tour shows its steps in the TUI: drop --no-tui")}
			}
			if !cmd.Flags().Changed("mqtts") {
				bf.cfg.MQTTS = demo.PreferAddr(bf.cfg.MQTTS)
			}
			if !cmd.Flags().Changed("wss") {
				bf.cfg.WSS = demo.PreferAddr(bf.cfg.WSS)
			}
			if bf.cfg.MQTTS == "" {
				return usageErr{Err: fmt.Errorf("the demo devices connect over mqtts: give --mqtts an address")}
			}
			fitDemoFleet(cmd.Flags(), &bf.cfg.Limits, o.devices)
			return runDemo(cmd.Context(), g, bf, o)
		},
	}
	bf.register(c)
	c.Flags().IntVar(&o.devices, "devices", demo.DefaultDevices, "number of simulated telemetry devices")
	c.Flags().BoolVar(&o.noTUI, "no-tui", false, "run headless and print how to attach the TUI from another terminal")
	c.Flags().BoolVar(&o.tour, "tour", false, "guide the operator through the tutorial in the status area")
	return c
}

// runDemo runs the whole demo until the operator quits the TUI or, headless,
// until SIGINT, SIGTERM or SIGHUP. Teardown runs in reverse: devices, daemon
// (whose error is returned, as serve does), data.
func runDemo(ctx context.Context, g *globals, bf brokerFlags, o demoOptions) (err error) {
	dir, throwaway, err := demoDir(g)
	if err != nil {
		return err
	}
	if throwaway {
		defer os.RemoveAll(dir)
	}
	// SIGHUP too: closing the presenter's terminal must still remove the
	// throwaway directory.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	log, closeLog, err := demoLogger(g, dir, o.noTUI)
	if err != nil {
		return err
	}
	defer closeLog()
	d, err := g.startDaemon(dir, bf, log, "tui")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, d.Close()) }()
	// The demo's own setup (client-cert auth on, device certificates) is
	// audited as "demo"; what the operator does in the TUI as "tui".
	fleet, err := demo.Launch(app.WithActor(ctx, "demo"), d.app, demo.Config{
		Devices: o.devices,
		KeyDir:  filepath.Join(dir, "devices"),
		Logger:  log,
	})
	if err != nil {
		return err
	}
	defer fleet.Stop()
	if !o.noTUI {
		var opts []ui.Option
		if o.tour {
			var steps []ui.TourStep
			for _, s := range demo.TourSteps(o.devices) {
				steps = append(steps, ui.TourStep{Text: s.Text, Done: s.Done})
			}
			opts = append(opts, ui.WithTour(steps))
		}
		if err := ui.Run(ctx, d.app, opts...); err != nil {
			return fmt.Errorf("%w; without a terminal, run 'gatehouse demo --no-tui'", err)
		}
		return nil
	}
	if err := printDemo(ctx, g.stderr, d.app, dir, throwaway, o.devices); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// demoDir is --data when given, else a new temporary directory.
func demoDir(g *globals) (dir string, throwaway bool, err error) {
	if g.data != "" {
		dir, err = filepath.Abs(g.data)
		if err != nil {
			return "", false, fmt.Errorf("resolve --data %s: %w", g.data, err)
		}
		return dir, false, nil
	}
	dir, err = os.MkdirTemp("", "gatehouse-demo-")
	if err != nil {
		return "", false, fmt.Errorf("create a demo data directory: %w", err)
	}
	return dir, true, nil
}

// demoLogger logs to stderr when headless; with the TUI, which owns the
// terminal, to DATA/gatehouse.log.
func demoLogger(g *globals, dir string, headless bool) (*slog.Logger, func(), error) {
	if headless {
		return slog.New(slog.NewTextHandler(g.stderr, nil)), func() {}, nil
	}
	f, err := logFile(dir)
	if err != nil {
		return nil, nil, err
	}
	return slog.New(slog.NewTextHandler(f, nil)), func() { f.Close() }, nil
}

// printDemo tells a headless presenter where everything is and how to attach.
func printDemo(ctx context.Context, w io.Writer, a *app.App, dir string, throwaway bool, devices int) error {
	transports, err := a.Transports(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "gatehouse demo: %d telemetry devices, plus %s and %s (always refused)\n", devices, demo.NoCertDevice, demo.ForeignDevice)
	for _, t := range transports {
		fmt.Fprintf(&b, "  %-6s %s  client-cert auth %s\n", t.Name, t.Addr, onOff(t.ClientAuth))
	}
	note := ""
	if throwaway {
		note = " (removed on exit)"
	}
	fmt.Fprintf(&b, "  data   %s%s\n  device files in %s/<device>/\n", dir, note, filepath.Join(dir, "devices"))
	fmt.Fprintf(&b, "attach the TUI from another terminal: gatehouse --data %s\n", dir)
	fmt.Fprintf(&b, "follow events: gatehouse events --follow --data %s\nctrl+c stops the demo\n", dir)
	_, err = io.WriteString(w, b.String())
	return err
}
