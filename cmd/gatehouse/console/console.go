// Package console serves the operator TUI over SSH (serve --ssh ADDR): each
// session runs its own TUI program on the daemon's in-process App, so every
// operator sees the same broker live.
//
// Only public keys listed in DATA/authorized_keys get in (OpenSSH format,
// re-read at every login, refused while others may write it). A key whose options include `viewer` (or
// `command="viewer"`) opens a read-only console. Every action is audited as
// "ssh:<SHA256 fingerprint> <comment>". The host key is generated once, as
// DATA/ssh_host_ed25519_key (mode 0600).
package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	charmlog "github.com/charmbracelet/log"
	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	"github.com/charmbracelet/wish/activeterm"
	bm "github.com/charmbracelet/wish/bubbletea"
	"github.com/muesli/termenv"
	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui"
)

// File names inside the data directory.
const (
	AuthorizedKeysFile = "authorized_keys"
	HostKeyFile        = "ssh_host_ed25519_key"
)

// EventConsole is the event type of an operator opening or leaving the
// console, so Activity shows who is on.
const EventConsole = "console"

// ErrReadOnly is returned by a viewer's backend for every state change.
var ErrReadOnly = errors.New("read-only console (viewer key): changes are not allowed")

// Config configures the console server.
type Config struct {
	Addr    string
	DataDir string             // holds authorized_keys and the host key
	Backend ui.Backend         // the in-process App
	Emit    func(broker.Event) // where console events go (the App's hub)
	Logger  *slog.Logger
}

// Server is a listening SSH console.
type Server struct {
	srv *ssh.Server
	ln  net.Listener
	log *slog.Logger
}

// identity is an authenticated operator.
type identity struct {
	actor  string // "ssh:SHA256:... comment", the audit actor
	viewer bool
}

type identityKey struct{}

// Listen binds addr and prepares the server; Serve serves it.
func Listen(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger.With("component", "console")
	// wish reports a session's end (a dropped connection kills its program)
	// through charmbracelet/log's default logger on stderr; we log sessions
	// ourselves.
	charmlog.SetOutput(io.Discard)
	keys := filepath.Join(cfg.DataDir, AuthorizedKeysFile)
	srv, err := wish.NewServer(
		wish.WithAddress(cfg.Addr),
		wish.WithHostKeyPath(filepath.Join(cfg.DataDir, HostKeyFile)),
		wish.WithPublicKeyAuth(func(ctx ssh.Context, key ssh.PublicKey) bool {
			id, ok, err := authorize(keys, key)
			if err != nil {
				log.Warn("cannot read authorized keys", "file", keys, "err", err)
			}
			if !ok {
				log.Info("ssh key refused", "fingerprint", gossh.FingerprintSHA256(key), "user", ctx.User(), "remote", ctx.RemoteAddr().String())
				return false
			}
			ctx.SetValue(identityKey{}, id)
			return true
		}),
		wish.WithMiddleware(
			bm.MiddlewareWithProgramHandler(programFor(cfg, log), termenv.ANSI256),
			activeterm.Middleware(),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("ssh console: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ssh console listener %s: %w", cfg.Addr, err)
	}
	return &Server{srv: srv, ln: ln, log: log}, nil
}

// programFor builds each session's TUI: the operator's actor rides on the
// context of every backend call; a viewer's backend refuses changes.
func programFor(cfg Config, log *slog.Logger) bm.ProgramHandler {
	return func(s ssh.Session) *tea.Program {
		id, _ := s.Context().Value(identityKey{}).(identity)
		if id.actor == "" {
			return nil // not authenticated by our handler: never reached
		}
		b := cfg.Backend
		mode := "operator"
		opts := []ui.Option{}
		if id.viewer {
			b, mode = readOnly{b}, "viewer"
			opts = append(opts, ui.WithReadOnly())
		}
		remote := s.RemoteAddr().String()
		log.Info("console session", "actor", id.actor, "mode", mode, "remote", remote)
		notify(cfg, id, mode, remote, "opened")
		go func() {
			<-s.Context().Done()
			notify(cfg, id, mode, remote, "closed")
		}()
		ctx := app.WithActor(s.Context(), id.actor)
		m := ui.New(b, append(opts, ui.WithContext(ctx))...)
		return tea.NewProgram(m, append(bm.MakeOptions(s), tea.WithAltScreen(), tea.WithContext(ctx))...)
	}
}

func notify(cfg Config, id identity, mode, remote, what string) {
	if cfg.Emit != nil {
		cfg.Emit(broker.Event{At: time.Now(), Type: EventConsole, Remote: remote, Transport: "ssh",
			Reason: fmt.Sprintf("%s console %s by %s", mode, what, id.actor)})
	}
}

// authorize looks key up in the authorized_keys file, read afresh so keys
// added or removed apply at the next login. Like sshd's StrictModes, a file
// that others may write admits nobody: anyone who can edit it could let
// themselves in.
func authorize(path string, key ssh.PublicKey) (identity, bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return identity{}, false, err
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return identity{}, false, fmt.Errorf("%s is writable by others (mode %04o): run 'chmod 600 %s'", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return identity{}, false, err
	}
	want := key.Marshal()
	for len(data) > 0 {
		pub, comment, options, rest, err := gossh.ParseAuthorizedKey(data)
		if err != nil {
			break // no further valid line
		}
		data = rest
		if !bytes.Equal(pub.Marshal(), want) {
			continue
		}
		actor := "ssh:" + gossh.FingerprintSHA256(pub)
		if comment = strings.TrimSpace(comment); comment != "" {
			actor += " " + comment
		}
		return identity{actor: actor, viewer: isViewer(options)}, true, nil
	}
	return identity{}, false, nil
}

// isViewer reports whether a key's options make it read-only.
func isViewer(options []string) bool {
	for _, o := range options {
		if o == "viewer" || o == `command="viewer"` {
			return true
		}
	}
	return false
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves sessions until Close.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, ssh.ErrServerClosed) {
		return err
	}
	return nil
}

// Close ends every session and stops listening.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return s.srv.Close()
	}
	return nil
}

// readOnly is a viewer's backend: reads pass through, every method of
// ui.Backend that changes something is refused here, whatever the TUI
// offers (the Policy view is also told it is read-only).
type readOnly struct{ ui.Backend }

// Describe implements ui.Backend: the title bar says the console is read-only.
func (r readOnly) Describe() string { return "viewer (read-only) · " + r.Backend.Describe() }

// CreateCert implements ui.Backend by refusing.
func (readOnly) CreateCert(context.Context, app.CreateRequest) (app.CreateResult, error) {
	return app.CreateResult{}, ErrReadOnly
}

// Transition implements ui.Backend by refusing.
func (readOnly) Transition(context.Context, string, store.State, string) (app.TransitionResult, error) {
	return app.TransitionResult{}, ErrReadOnly
}

// SetClientAuth implements ui.Backend by refusing.
func (readOnly) SetClientAuth(context.Context, string, bool) (int, error) { return 0, ErrReadOnly }

// ExportCA implements ui.Backend by refusing: it writes a file on the appliance.
func (readOnly) ExportCA(context.Context, string) error { return ErrReadOnly }

// Kick implements ui.Backend by refusing.
func (readOnly) Kick(context.Context, string) error { return ErrReadOnly }

// TokenTransition implements ui.Backend by refusing.
func (readOnly) TokenTransition(context.Context, string, store.State, string) (app.TokenTransitionResult, error) {
	return app.TokenTransitionResult{}, ErrReadOnly
}

// PurgeRetained implements ui.Backend by refusing.
func (readOnly) PurgeRetained(context.Context, string) (int, error) { return 0, ErrReadOnly }

// AddRule implements ui.Backend by refusing.
func (readOnly) AddRule(context.Context, store.Rule) (store.Rule, error) {
	return store.Rule{}, ErrReadOnly
}

// RemoveRule implements ui.Backend by refusing.
func (readOnly) RemoveRule(context.Context, string) (store.Rule, error) {
	return store.Rule{}, ErrReadOnly
}

// MoveRule implements ui.Backend by refusing.
func (readOnly) MoveRule(context.Context, string, string) error { return ErrReadOnly }

// SetPolicyDefault implements ui.Backend by refusing.
func (readOnly) SetPolicyDefault(context.Context, string) error { return ErrReadOnly }
