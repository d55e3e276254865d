package console_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/console"
	"github.com/gatehouse/gatehouse/store"
)

// operator is a key pair with the authorized_keys line that admits it.
type operator struct {
	signer gossh.Signer
	line   string
}

func newOperator(t *testing.T, options, comment string) operator {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.PublicKey()))) + " " + comment
	if options != "" {
		line = options + " " + line
	}
	return operator{signer: s, line: line}
}

// fixture is an App with its broker and a console on loopback.
type fixture struct {
	a    *app.App
	dir  string
	addr string
	srv  *console.Server
}

func start(t *testing.T, keys ...operator) *fixture {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	a, err := app.Open(app.Config{DataDir: dir, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	var lines []string
	for _, k := range keys {
		lines = append(lines, k.line)
	}
	if err := os.WriteFile(filepath.Join(dir, console.AuthorizedKeysFile), []byte("# operators\n"+strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.StartBroker(app.BrokerConfig{MQTTS: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{a: a, dir: dir}
	f.listen(t)
	return f
}

func (f *fixture) listen(t *testing.T) {
	t.Helper()
	srv, err := console.Listen(console.Config{Addr: "127.0.0.1:0", DataDir: f.dir, Backend: f.a, Emit: f.a.Hub().Emit})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	f.srv, f.addr = srv, srv.Addr()
}

func dial(addr string, k operator, hostKey *gossh.PublicKey) (*gossh.Client, error) {
	return gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User: "ops",
		Auth: []gossh.AuthMethod{gossh.PublicKeys(k.signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key gossh.PublicKey) error {
			if hostKey != nil {
				*hostKey = key
			}
			return nil
		},
		Timeout: 5 * time.Second,
	})
}

// screen is a console session's output, safe to read while it grows.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) has(text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Contains(s.buf.String(), text)
}

// session opens the TUI in a pty and returns its output and keyboard.
func session(t *testing.T, c *gossh.Client) (*screen, func(string)) {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm", 40, 140, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	out := &screen{}
	sess.Stdout = out
	in, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the TUI", func() bool { return out.has("Certificates") })
	return out, func(keys string) {
		if _, err := in.Write([]byte(keys)); err != nil {
			t.Fatal(err)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func activeCert(t *testing.T, a *app.App, cn string) string {
	t.Helper()
	ctx := context.Background()
	b, err := a.IssueClient(ctx, app.IssueRequest{CN: cn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Transition(ctx, b.Cert.Serial, store.StateActive, ""); err != nil {
		t.Fatal(err)
	}
	return b.Cert.Serial
}

func stateOf(t *testing.T, a *app.App, serial string) store.State {
	t.Helper()
	c, err := a.ShowCert(context.Background(), serial)
	if err != nil {
		t.Fatal(err)
	}
	return c.State
}

func TestOperatorSuspendsOverSSHAudited(t *testing.T) {
	alice := newOperator(t, "", "alice@laptop")
	f := start(t, alice)
	serial := activeCert(t, f.a, "dev1")
	c, err := dial(f.addr, alice, nil)
	if err != nil {
		t.Fatalf("an authorized key is refused: %v", err)
	}
	defer c.Close()
	out, keys := session(t, c)
	// Keys typed before the first snapshot is drawn would act on an empty list.
	waitFor(t, "dev1 on the home view", func() bool { return out.has("dev1") })
	keys("js") // home opens on the "all" row: move to dev1, then suspend
	keys("y")  // the home view asks first
	waitFor(t, "the suspend", func() bool { return stateOf(t, f.a, serial) == store.StateSuspended })
	recs, err := f.a.Audit(context.Background(), store.AuditQuery{Serial: serial, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := "ssh:" + gossh.FingerprintSHA256(alice.signer.PublicKey()) + " alice@laptop"
	if len(recs) != 1 || recs[0].Actor != want {
		t.Fatalf("audit %+v, want actor %q", recs, want)
	}
}

func TestViewerCannotChangeState(t *testing.T) {
	tests := map[string]string{"viewer option": "viewer", "viewer command": `command="viewer"`}
	for name, options := range tests {
		t.Run(name, func(t *testing.T) {
			bob := newOperator(t, options, "bob")
			f := start(t, bob)
			serial := activeCert(t, f.a, "dev1")
			c, err := dial(f.addr, bob, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			out, keys := session(t, c)
			waitFor(t, "the title to say read-only", func() bool { return out.has("viewer (read-only)") })
			keys("js")
			keys("y")
			waitFor(t, "the refusal", func() bool { return out.has("changes are not allowed") })
			if s := stateOf(t, f.a, serial); s != store.StateActive {
				t.Fatalf("a viewer changed the state to %s", s)
			}
			keys("7")
			keys("d")
			waitFor(t, "the Policy view to refuse", func() bool { return out.has("read-only: the policy cannot be changed") })
			if p, err := f.a.Policy(context.Background()); err != nil || p.Default != "deny" {
				t.Fatalf("policy after a viewer's d: %+v, %v", p, err)
			}
		})
	}
}

func TestUnknownKeysAreRefused(t *testing.T) {
	alice := newOperator(t, "", "alice")
	stranger := newOperator(t, "", "stranger")
	f := start(t, alice)
	if c, err := dial(f.addr, stranger, nil); err == nil {
		c.Close()
		t.Fatal("a key not in authorized_keys got in")
	}
	// The file is read at each login: removing alice locks her out.
	if err := os.WriteFile(filepath.Join(f.dir, console.AuthorizedKeysFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := dial(f.addr, alice, nil); err == nil {
		c.Close()
		t.Fatal("a removed key still gets in")
	}
	// A file others may write admits nobody, not even a listed key.
	path := filepath.Join(f.dir, console.AuthorizedKeysFile)
	if err := os.WriteFile(path, []byte(alice.line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := dial(f.addr, alice, nil)
	if err != nil {
		t.Fatalf("alice is refused once listed again: %v", err)
	}
	c.Close()
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if c, err := dial(f.addr, alice, nil); err == nil {
		c.Close()
		t.Fatal("a world-writable authorized_keys still admits keys")
	}
}

func TestHostKeyIsKeptPrivate(t *testing.T) {
	alice := newOperator(t, "", "alice")
	f := start(t, alice)
	var first, second gossh.PublicKey
	c, err := dial(f.addr, alice, &first)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	fi, err := os.Stat(filepath.Join(f.dir, console.HostKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key file: %v, %v", fi, err)
	}
	f.srv.Close()
	f.listen(t) // a restart keeps the host key
	if c, err = dial(f.addr, alice, &second); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !bytes.Equal(first.Marshal(), second.Marshal()) {
		t.Fatal("the host key changed across a restart")
	}
}

// Several operators at once each get their own program; a dropped
// connection leaves no goroutine (program, subscription) behind.
func TestSessionsAreIndependentAndLeaveNothingBehind(t *testing.T) {
	alice, bob := newOperator(t, "", "alice"), newOperator(t, "viewer", "bob")
	f := start(t, alice, bob)
	activeCert(t, f.a, "dev1")
	// A first session starts the process-wide helpers (bubbletea's signal
	// watcher) that outlive any session by design.
	warm, err := dial(f.addr, alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	session(t, warm)
	warm.Close()
	time.Sleep(200 * time.Millisecond)
	before := runtime.NumGoroutine()
	var clients []*gossh.Client
	for _, k := range []operator{alice, bob} {
		c, err := dial(f.addr, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		session(t, c)
	}
	if n := runtime.NumGoroutine(); n <= before {
		t.Fatalf("goroutines %d with two sessions, %d before", n, before)
	}
	for _, c := range clients {
		c.Close() // drop, without quitting the TUI
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left after the sessions dropped, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Activity shows who came and went, and the event log keeps it.
	waitFor(t, "six console events in the log", func() bool {
		evs, _ := f.a.Events(context.Background(), app.EventQuery{Types: []string{console.EventConsole}})
		return len(evs) == 6
	})
	evs, _ := f.a.Events(context.Background(), app.EventQuery{Types: []string{console.EventConsole}})
	if !strings.Contains(evs[2].Reason+evs[3].Reason+evs[4].Reason, "viewer console opened by ssh:SHA256:") {
		t.Fatalf("console events %+v", evs)
	}
}
