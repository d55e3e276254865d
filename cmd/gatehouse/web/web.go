// Package web is the daemon's one HTTP server (serve --http ADDR): Prometheus
// metrics on /metrics and the probes /healthz and /readyz for load balancers
// and systemd. Other endpoints the daemon serves over HTTP join its mux.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
)

// Bounds on what a client of the HTTP server may hold, so one that opens
// connections and sends nothing (or headers and no body) cannot keep them,
// or the daemon's file descriptors, forever. The listener is public when
// /ocsp and /crl are served, so they hold for every endpoint. They are
// variables so the tests can shorten them.
var (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second // the whole request, body included
	writeTimeout      = 30 * time.Second // a /metrics scrape of a large fleet fits
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
	maxConns          = 256 // connections served at once; more wait in the accept queue
)

// Config says what the server exposes.
type Config struct {
	Metrics prometheus.Gatherer // served on /metrics
	// Ready reports whether the daemon can serve (listeners bound, store
	// readable); /readyz answers 503 with its error otherwise.
	Ready  func() error
	Logger *slog.Logger
}

// Server is the HTTP server. Handle adds endpoints before Serve.
type Server struct {
	mux *http.ServeMux
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

// Listen binds addr and prepares the endpoints; Serve serves them.
func Listen(addr string, cfg Config) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http listener %s: %w", addr, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{mux: http.NewServeMux(), ln: netutil.LimitListener(ln, maxConns), log: cfg.Logger}
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := cfg.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return s, nil
}

// Handle adds an endpoint (e.g. "GET /crl/{name}").
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Addr is the bound address (the real port when :0 was asked).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until Close.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops the server, letting requests in flight finish for a second.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
