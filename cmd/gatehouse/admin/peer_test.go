package admin

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestOtherUsersAreRefused connects to a peer-checked socket from a process
// running as nobody. It needs root to switch users, as CI has.
func TestOtherUsersAreRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs /usr/bin/python3 for the client")
	}
	dir, err := os.MkdirTemp("", "gatehouse-peer-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "peer.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o666) // let nobody reach the uid check itself
	var logs syncBuffer
	pl := &peerListener{Listener: ln, log: slog.New(slog.NewTextHandler(&logs, nil))}
	defer pl.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := pl.Accept(); err == nil {
			accepted <- c
		}
	}()

	nobody := exec.Command("/usr/bin/python3", "-c", `
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(5)
print("closed" if s.recv(1) == b"" else "open")`, path)
	nobody.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := nobody.CombinedOutput()
	if err != nil {
		t.Fatalf("client as nobody: %v: %s", err, out)
	}
	if strings.TrimSpace(string(out)) != "closed" {
		t.Fatalf("nobody's connection was not closed: %s", out)
	}
	if !strings.Contains(logs.String(), "refused connection from another user") || !strings.Contains(logs.String(), "uid=65534") {
		t.Fatalf("refusal not logged: %s", logs.String())
	}

	mine, err := net.Dial("unix", path) // the daemon's own user gets through
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("own user's connection was not accepted")
	}
}

// syncBuffer is a bytes.Buffer safe for the listener goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
