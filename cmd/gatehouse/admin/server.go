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

	"github.com/gatehouse/gatehouse/broker"
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
	m.HandleFunc("GET /v1/status", get(func(r *http.Request) (statusReply, error) {
		ts, err := s.svc.Transports(ctx(r))
		return statusReply{Describe: s.svc.Describe(), PID: os.Getpid(), Transports: ts}, err
	}))
	m.HandleFunc("GET /v1/snapshot", get(func(r *http.Request) (app.Snapshot, error) { return s.svc.Snapshot(ctx(r)) }))
	m.HandleFunc("GET /v1/certs", get(func(r *http.Request) ([]app.CertView, error) {
		return s.svc.ListCerts(ctx(r), store.State(r.URL.Query().Get("state")))
	}))
	m.HandleFunc("POST /v1/certs", post(func(r *http.Request, req app.IssueRequest) (app.Bundle, error) {
		return s.svc.IssueClient(ctx(r), req)
	}))
	m.HandleFunc("POST /v1/certs/sign", post(func(r *http.Request, req signRequest) (app.Bundle, error) {
		return s.svc.SignCSR(ctx(r), []byte(req.CSRPEM), req.TTL)
	}))
	m.HandleFunc("POST /v1/certs/renew", post(func(r *http.Request, req app.RenewRequest) (app.Bundle, error) {
		return s.svc.RenewCert(ctx(r), req)
	}))
	m.HandleFunc("PUT /v1/renewal", post(func(r *http.Request, req switchRequest) (struct{}, error) {
		return struct{}{}, s.svc.SetRenewal(ctx(r), req.On)
	}))
	m.HandleFunc("POST /v1/certs/import", post(func(r *http.Request, req pemRequest) (store.Cert, error) {
		return s.svc.ImportCert(ctx(r), []byte(req.PEM))
	}))
	m.HandleFunc("GET /v1/certs/{serial}", get(func(r *http.Request) (app.CertDetail, error) {
		return s.svc.ShowCert(ctx(r), r.PathValue("serial"))
	}))
	m.HandleFunc("POST /v1/certs/{serial}/transition", post(func(r *http.Request, req transitionRequest) (app.TransitionResult, error) {
		return s.svc.Transition(ctx(r), r.PathValue("serial"), req.To, req.Reason)
	}))
	m.HandleFunc("POST /v1/certs/{serial}/purge-retained", post(func(r *http.Request, _ struct{}) (purgeReply, error) {
		n, err := s.svc.PurgeRetained(ctx(r), r.PathValue("serial"))
		return purgeReply{Purged: n}, err
	}))
	m.HandleFunc("GET /v1/resolve/{prefix}", get(func(r *http.Request) (string, error) {
		return s.svc.ResolveSerial(ctx(r), r.PathValue("prefix"))
	}))
	m.HandleFunc("GET /v1/ca/root", get(func(r *http.Request) (string, error) {
		pem, err := s.svc.RootPEM(ctx(r))
		return string(pem), err
	}))
	m.HandleFunc("GET /v1/ca/crl", get(func(r *http.Request) ([]byte, error) {
		return s.svc.CRL(ctx(r), r.URL.Query().Get("issuer"))
	}))
	m.HandleFunc("GET /v1/cas", get(func(r *http.Request) ([]store.CA, error) { return s.svc.ListCAs(ctx(r)) }))
	m.HandleFunc("POST /v1/cas", post(func(r *http.Request, req pemRequest) ([]store.CA, error) {
		strict := req.Strict == nil || *req.Strict // new trusts are strict unless asked otherwise
		return s.svc.TrustCA(ctx(r), []byte(req.PEM), strict)
	}))
	s.issuerRoutes(m)
	s.certRoutes(m)
	m.HandleFunc("DELETE /v1/cas/{name}", get(func(r *http.Request) (app.UntrustResult, error) {
		return s.svc.UntrustCA(ctx(r), r.PathValue("name"))
	}))
	m.HandleFunc("PUT /v1/cas/{name}/strict", post(func(r *http.Request, req strictRequest) (store.CA, error) {
		return s.svc.SetCAStrict(ctx(r), r.PathValue("name"), req.On)
	}))
	m.HandleFunc("GET /v1/mtls", get(func(r *http.Request) ([]broker.TransportInfo, error) { return s.svc.Transports(ctx(r)) }))
	m.HandleFunc("PUT /v1/mtls/{transport}", post(func(r *http.Request, req switchRequest) (mtlsReply, error) {
		n, err := s.svc.SetClientAuth(ctx(r), r.PathValue("transport"), req.On)
		return mtlsReply{Dropped: n}, err
	}))
	m.HandleFunc("GET /v1/sessions", get(func(r *http.Request) ([]broker.Session, error) { return s.svc.Sessions(ctx(r)) }))
	m.HandleFunc("POST /v1/sessions/{client_id}/kick", post(func(r *http.Request, _ struct{}) (struct{}, error) {
		return struct{}{}, s.svc.Kick(ctx(r), r.PathValue("client_id"))
	}))
	m.HandleFunc("GET /v1/events", s.events)
	m.HandleFunc("POST "+eventsQueryPath, post(func(r *http.Request, q app.EventQuery) ([]broker.Event, error) {
		return s.svc.Events(ctx(r), q)
	}))
	m.HandleFunc("GET /v1/backup", s.backup)
	m.HandleFunc("GET /v1/audit", get(func(r *http.Request) ([]store.AuditRecord, error) {
		q := store.AuditQuery{Serial: r.URL.Query().Get("serial"), CertID: r.URL.Query().Get("cert_id")}
		if l := r.URL.Query().Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 0 {
				return nil, app.UsageError{Err: fmt.Errorf("limit %q: not a number", l)}
			}
			q.Limit = n
		}
		return s.svc.Audit(ctx(r), q)
	}))
	s.aclRoutes(m)
	s.tokenRoutes(m)
	s.clusterRoutes(m)
	return m
}

// get adapts fn, which answers from the request alone, into a handler.
func get[T any](fn func(*http.Request) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		reply(w, v, err)
	}
}

// post adapts fn, which takes the request's JSON body, into a handler.
func post[Req, T any](fn func(*http.Request, Req) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if decode(w, r, &req) {
			v, err := fn(r, req)
			reply(w, v, err)
		}
	}
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

// backup streams a copy of the store. A failure after the first byte aborts
// the connection, so the client sees a truncated body as an error, never as a
// short but "successful" backup.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	if _, err := s.svc.Backup(ctx(r), w); err != nil {
		s.log.Error("backup failed", "err", err)
		panic(http.ErrAbortHandler)
	}
}

// events returns the recent events as a JSON array, or with ?follow=1 streams
// them as newline-delimited JSON until the client leaves.
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
