package broker_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/broker"
)

// syncBuffer is a bytes.Buffer safe for the broker's goroutines.
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

// A client that keeps sending a second CONNECT makes mochi log "error
// processing packet" with the packet dumped: each such line stays short and
// one client's lines are rate-limited.
func TestProtocolErrorLogsAreShortAndRateLimited(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, func(c *broker.Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	cert, _ := e.issue(t, "flooder")
	const attempts = 20
	for range attempts {
		c, err := dialRaw(e.addr[broker.TransportMQTTS], e.tlsConfig(&cert), 4, "flood")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(connectPacket(4, "flood-"+strings.Repeat("x", 100))); err != nil {
			t.Fatal(err)
		}
		if _, err := c.waitClosed(); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	waitFor(t, func() bool { return strings.Contains(logs.String(), "error processing packet") }, wait, "no protocol error logged")
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, "error processing packet") {
			lines = append(lines, l)
		}
	}
	if len(lines) > 5 {
		t.Errorf("%d protocol-error lines for one client in a minute, want at most 5", len(lines))
	}
	for _, l := range lines {
		if len(l) > 600 {
			t.Errorf("protocol-error line of %d bytes, want it truncated: %.300s...", len(l), l)
		}
	}
}
