package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/console"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/web"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// applianceFlags are serve's flags for running as an appliance: the SSH
// console, the HTTP endpoints and the event log's retention.
type applianceFlags struct {
	ssh, http string
	events    store.EventRetention
}

func (f *applianceFlags) register(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&f.ssh, "ssh", "", "serve the operator console over SSH on this address, e.g. :2222 (keys in DATA/authorized_keys; off by default)")
	fs.StringVar(&f.http, "http", "", "serve /metrics, /healthz, /readyz, the CRL (/crl/NAME.crl) and OCSP (/ocsp) over HTTP on this address, e.g. 127.0.0.1:9090 (off by default)")
	fs.IntVar(&f.events.Keep, "events-keep", app.DefaultEventRetention.Keep, "keep at most this many events in the event log (0: no count limit)")
	fs.DurationVar(&f.events.MaxAge, "events-max-age", app.DefaultEventRetention.MaxAge, "drop events older than this from the event log (0: no age limit)")
}

// startAppliance starts the front ends af asks for; Close stops them.
func (d *daemon) startAppliance(af applianceFlags, log *slog.Logger) error {
	if af.http != "" {
		srv, err := web.Listen(af.http, web.Config{Metrics: d.app.Metrics().Registry(), Ready: d.app.Ready, Logger: log})
		if err != nil {
			return portHint(err, "--http")
		}
		rev := d.app.RevocationHandler()
		srv.Handle("GET /crl/{file}", rev)
		srv.Handle("/ocsp", rev)
		srv.Handle("/ocsp/", rev)
		d.stops = append(d.stops, srv.Close)
		go func() {
			if err := srv.Serve(); err != nil {
				log.Error("http server stopped", "err", err)
			}
		}()
		log.Info("listening", "transport", "http", "addr", srv.Addr(), "endpoints", "/metrics /healthz /readyz /crl/"+pki.DefaultIssuer+".crl /ocsp")
	}
	if af.ssh != "" {
		srv, err := console.Listen(console.Config{Addr: af.ssh, DataDir: d.dir, Backend: d.app, Emit: d.app.Hub().Emit, Logger: log})
		if err != nil {
			return portHint(err, "--ssh")
		}
		d.stops = append(d.stops, srv.Close)
		go func() {
			if err := srv.Serve(); err != nil {
				log.Error("ssh console stopped", "err", err)
			}
		}()
		keys := filepath.Join(d.dir, console.AuthorizedKeysFile)
		log.Info("listening", "transport", "ssh", "addr", srv.Addr(), "authorized_keys", keys)
		if _, err := os.Stat(keys); err != nil {
			log.Warn("no authorized_keys: every SSH login is refused until you add a public key", "file", keys)
		}
	}
	return nil
}

func portHint(err error, flag string) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w; choose another address with %s or stop what holds the port", err, flag)
	}
	return err
}

// reload re-reads the environment and config file as at start (flags given
// on the command line still win), applies the log level live and logs every
// other changed setting as needing a restart. The server certificate files
// are re-read by the rotation that follows; a new path needs a restart.
func reload(g *globals, running *cobra.Command, dir string, level *slog.LevelVar, log *slog.Logger, applyLimits func() ([]string, error)) {
	fresh := newServe(g)
	running.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			if ff := fresh.Flags().Lookup(f.Name); ff != nil {
				_ = setFlag(ff, flagValues(f))
				ff.Changed = true
			}
		}
	})
	cfg, err := applyConfig(fresh, dir, os.Getenv)
	if err != nil {
		log.Error("config not reloaded", "err", err)
		return
	}
	var limits []string // limit keys changed: set on the running flags, applied together below
	for _, s := range cfg.Settings {
		cur := running.Flags().Lookup(s.Key)
		if cur == nil || flagString(cur) == s.Value {
			continue
		}
		switch {
		case strings.HasPrefix(s.Key, "max-"):
			if err := setFlag(cur, []string{s.Value}); err != nil {
				log.Error("limit not changed", "key", s.Key, "err", err)
				continue
			}
			limits = append(limits, s.Key)
		case s.Key == "log-level":
			if err := setLevel(level, s.Value); err != nil {
				log.Error("log level not changed", "err", err)
				continue
			}
			_ = setFlag(cur, []string{s.Value})
			log.Info("log level changed", "level", s.Value)
		default:
			log.Warn("setting changed; restart gatehouse serve to apply it", "key", s.Key, "value", s.Value, "source", s.Source)
		}
	}
	if len(limits) == 0 {
		return
	}
	restart, err := applyLimits()
	if err != nil {
		log.Error("limits not changed", "err", err)
		return
	}
	for _, k := range restart {
		log.Warn("setting changed; restart gatehouse serve to apply it", "key", k)
	}
	log.Info("limits reloaded", "changed", strings.Join(limits, ","))
}
