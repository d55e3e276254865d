// Package admin is Gatehouse's admin API: HTTP/1.1 and JSON over a unix
// socket in the data directory, so a second terminal (or a script, or the TUI)
// can drive a running daemon. Only the daemon's own user and root may connect;
// the peer's uid, read with SO_PEERCRED, names the actor in the audit log.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// SocketName is the admin socket's file name inside the data directory.
const SocketName = "admin.sock"

// maxBody bounds request bodies: PEM chains and CSRs are small.
const maxBody = 1 << 20

// Server serves one app.Service on the admin socket.
type Server struct {
	svc  app.Service
	log  *slog.Logger
	path string
	http *http.Server
	ln   net.Listener
}

// Listen binds DATA/admin.sock with mode 0600, removing a stale socket left
// by a crashed daemon. It fails if a live daemon already answers there.
func Listen(dataDir string, svc app.Service, log *slog.Logger) (*Server, error) {
	path := filepath.Join(dataDir, SocketName)
	if Alive(dataDir) {
		return nil, fmt.Errorf("a gatehouse daemon already serves %s (socket %s)", dataDir, path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on admin socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("secure admin socket %s: %w", path, err)
	}
	s := &Server{svc: svc, log: log, path: path, ln: &peerListener{Listener: ln, log: log}}
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext:       withPeer,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Serve answers requests until Close.
func (s *Server) Serve() error {
	if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve admin socket %s: %w", s.path, err)
	}
	return nil
}

// Close stops serving, ends event streams and removes the socket file.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.http.Close()
	}
	os.Remove(s.path)
	return err
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/status", s.status)
	m.HandleFunc("GET /v1/snapshot", s.snapshot)
	m.HandleFunc("GET /v1/certs", s.listCerts)
	m.HandleFunc("POST /v1/certs", s.issueCert)
	m.HandleFunc("POST /v1/certs/sign", s.signCSR)
	m.HandleFunc("POST /v1/certs/import", s.importCert)
	m.HandleFunc("GET /v1/certs/{serial}", s.showCert)
	m.HandleFunc("POST /v1/certs/{serial}/transition", s.transition)
	m.HandleFunc("GET /v1/resolve/{prefix}", s.resolve)
	m.HandleFunc("GET /v1/ca/root", s.rootPEM)
	m.HandleFunc("GET /v1/cas", s.listCAs)
	m.HandleFunc("POST /v1/cas", s.trustCA)
	m.HandleFunc("GET /v1/mtls", s.transports)
	m.HandleFunc("PUT /v1/mtls/{transport}", s.setMTLS)
	m.HandleFunc("GET /v1/sessions", s.sessions)
	m.HandleFunc("GET /v1/events", s.events)
	m.HandleFunc("GET /v1/audit", s.audit)
	return m
}

// clientHeader names the kind of client ("cli", "tui") for the audit actor.
const clientHeader = "Gatehouse-Client"

// ctx is the request context carrying the audit actor: the peer's user name,
// and the client kind when it is not the command line ("alice (tui)").
func ctx(r *http.Request) context.Context {
	who := peerFrom(r.Context())
	if kind := r.Header.Get(clientHeader); kind != "" && kind != "cli" {
		who += " (" + kind + ")"
	}
	return app.WithActor(r.Context(), who)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	ts, err := s.svc.Transports(ctx(r))
	reply(w, statusReply{Describe: s.svc.Describe(), PID: os.Getpid(), Transports: ts}, err)
}

func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	snap, err := s.svc.Snapshot(ctx(r))
	reply(w, snap, err)
}

func (s *Server) listCerts(w http.ResponseWriter, r *http.Request) {
	certs, err := s.svc.ListCerts(ctx(r), store.State(r.URL.Query().Get("state")))
	reply(w, certs, err)
}

func (s *Server) issueCert(w http.ResponseWriter, r *http.Request) {
	var req app.IssueRequest
	if decode(w, r, &req) {
		b, err := s.svc.IssueClient(ctx(r), req)
		reply(w, b, err)
	}
}

func (s *Server) signCSR(w http.ResponseWriter, r *http.Request) {
	var req signRequest
	if decode(w, r, &req) {
		b, err := s.svc.SignCSR(ctx(r), []byte(req.CSRPEM), req.TTL)
		reply(w, b, err)
	}
}

func (s *Server) importCert(w http.ResponseWriter, r *http.Request) {
	var req pemRequest
	if decode(w, r, &req) {
		c, err := s.svc.ImportCert(ctx(r), []byte(req.PEM))
		reply(w, c, err)
	}
}

func (s *Server) showCert(w http.ResponseWriter, r *http.Request) {
	d, err := s.svc.ShowCert(ctx(r), r.PathValue("serial"))
	reply(w, d, err)
}

func (s *Server) transition(w http.ResponseWriter, r *http.Request) {
	var req transitionRequest
	if decode(w, r, &req) {
		res, err := s.svc.Transition(ctx(r), r.PathValue("serial"), req.To, req.Reason)
		reply(w, res, err)
	}
}

func (s *Server) resolve(w http.ResponseWriter, r *http.Request) {
	serial, err := s.svc.ResolveSerial(ctx(r), r.PathValue("prefix"))
	reply(w, serial, err)
}

func (s *Server) rootPEM(w http.ResponseWriter, r *http.Request) {
	pem, err := s.svc.RootPEM(ctx(r))
	reply(w, string(pem), err)
}

func (s *Server) listCAs(w http.ResponseWriter, r *http.Request) {
	cas, err := s.svc.ListCAs(ctx(r))
	reply(w, cas, err)
}

func (s *Server) trustCA(w http.ResponseWriter, r *http.Request) {
	var req pemRequest
	if decode(w, r, &req) {
		cas, err := s.svc.TrustCA(ctx(r), []byte(req.PEM), req.Strict)
		reply(w, cas, err)
	}
}

func (s *Server) transports(w http.ResponseWriter, r *http.Request) {
	ts, err := s.svc.Transports(ctx(r))
	reply(w, ts, err)
}

func (s *Server) setMTLS(w http.ResponseWriter, r *http.Request) {
	var req mtlsRequest
	if decode(w, r, &req) {
		n, err := s.svc.SetClientAuth(ctx(r), r.PathValue("transport"), req.On)
		reply(w, mtlsReply{Dropped: n}, err)
	}
}

func (s *Server) sessions(w http.ResponseWriter, r *http.Request) {
	ss, err := s.svc.Sessions(ctx(r))
	reply(w, ss, err)
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	q := store.AuditQuery{Serial: r.URL.Query().Get("serial")}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			replyError(w, http.StatusBadRequest, codeUsage, "limit must be a non-negative number")
			return
		}
		q.Limit = n
	}
	recs, err := s.svc.Audit(ctx(r), q)
	reply(w, recs, err)
}

// events returns the recent events as a JSON array, or with ?follow=1 streams
// them as newline-delimited JSON, recent ones first, until the client leaves.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("follow") == "" {
		evs, err := s.svc.RecentEvents(ctx(r))
		reply(w, evs, err)
		return
	}
	ch, err := s.svc.Subscribe(r.Context())
	if err != nil {
		reply(w, nil, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	if flusher != nil {
		flusher.Flush()
	}
	for e := range ch {
		if err := enc.Encode(e); err != nil {
			return
		}
		if flusher != nil && len(ch) == 0 {
			flusher.Flush()
		}
	}
}

// decode reads a JSON body into v, answering 400 itself on failure.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		replyError(w, http.StatusBadRequest, codeUsage, "bad request body: "+err.Error())
		return false
	}
	return true
}

// reply writes v as JSON, or err with a status and code the client maps back
// to the same sentinel errors.
func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		status, code := classify(err)
		replyError(w, status, code, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func replyError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorReply{Error: msg, Code: code})
}
