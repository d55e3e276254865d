package web

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// listenShort starts a server with short bounds and an endpoint that reads
// the request body, as POST /ocsp does.
func listenShort(t *testing.T, conns int) *Server {
	t.Helper()
	saved := []any{readTimeout, writeTimeout, maxConns}
	readTimeout, writeTimeout, maxConns = 300*time.Millisecond, time.Second, conns
	t.Cleanup(func() {
		readTimeout, writeTimeout, maxConns = saved[0].(time.Duration), saved[1].(time.Duration), saved[2].(int)
	})
	s, err := Listen("127.0.0.1:0", Config{Metrics: prometheus.NewRegistry(), Ready: func() error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("POST /ocsp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
		}
	}))
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return s
}

// A POST that sends its headers and never its body is dropped once the
// read timeout passes, instead of holding the connection forever.
func TestStalledBodyIsDropped(t *testing.T) {
	s := listenShort(t, 8)
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: 100\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("the server still holds a connection with a stalled body after 5s (read timeout 300ms): %v", err)
	}
}

// Connections past the cap wait in the accept queue, served once one of
// the others goes away.
func TestConnectionCap(t *testing.T) {
	s := listenShort(t, 1)
	hold, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(hold, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := http.ReadResponse(bufio.NewReader(hold), nil); err != nil {
		t.Fatal(err) // served: the one connection the cap allows, kept alive
	}
	next, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if _, err := io.WriteString(next, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	next.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _ := next.Read(make([]byte, 1)); n != 0 {
		t.Fatal("a second connection was served while the cap of one was held")
	}
	hold.Close()
	next.SetReadDeadline(time.Now().Add(5 * time.Second))
	body, err := io.ReadAll(next)
	if err != nil || !strings.Contains(string(body), "ok") {
		t.Fatalf("the waiting connection after the first closed: %q, %v", body, err)
	}
}
