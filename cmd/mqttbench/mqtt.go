package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// conn is one raw MQTT 3.1.1 session over TLS: no client library, so that an
// idle connection costs the generator one goroutine and a few KB, and every
// byte on the wire is ours to count. Reads belong to one goroutine; writes
// take mu, since a reader answers PUBLISH with PUBACK while another goroutine
// may ping or disconnect.
type conn struct {
	tc  *tls.Conn
	r   *bufio.Reader
	buf []byte

	mu sync.Mutex
	wb bytes.Buffer

	closing atomic.Bool // we hung up: a read error that follows is ours
}

var (
	// errRefused marks a CONNACK with a non-zero return code.
	errRefused = errors.New("connack refused")
	// errClosed marks a session the broker ended.
	errClosed = errors.New("closed by broker")
	// errTimeout marks a wait that ran out.
	errTimeout = errors.New("timed out")
)

// dial opens TCP and completes the TLS handshake with id's certificate; it
// returns how long the handshake took. readBuf sizes the read buffer: small for
// idle sessions, larger for subscribers.
func dial(ctx context.Context, t *target, id identity, readBuf int) (*conn, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	d := net.Dialer{}
	raw, err := d.DialContext(ctx, "tcp", t.nextAddr())
	if err != nil {
		return nil, 0, fmt.Errorf("dial: %w", err)
	}
	start := time.Now()
	tc := tls.Client(raw, id.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, 0, fmt.Errorf("handshake: %w", err)
	}
	return &conn{tc: tc, r: bufio.NewReaderSize(tc, readBuf)}, time.Since(start), nil
}

// open dials and sends CONNECT (clean session) and waits for a CONNACK that
// accepts it, within the target's timeout.
func open(ctx context.Context, t *target, id identity, clientID string, readBuf int) (*conn, time.Duration, error) {
	c, hs, err := dial(ctx, t, id, readBuf)
	if err != nil {
		return nil, 0, err
	}
	if err := c.connect(clientID, t.keepalive, t.timeout); err != nil {
		c.close()
		return nil, 0, err
	}
	return c, hs, nil
}

// connect sends CONNECT and reads the CONNACK.
func (c *conn) connect(clientID string, keepalive, timeout time.Duration) error {
	_ = c.tc.SetDeadline(time.Now().Add(timeout))
	defer func() { _ = c.tc.SetDeadline(time.Time{}) }()
	err := c.write(packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 4,
		Connect: packets.ConnectParams{
			ProtocolName:     []byte("MQTT"),
			Clean:            true,
			Keepalive:        uint16(keepalive / time.Second),
			ClientIdentifier: clientID,
		},
	})
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	pk, err := c.read()
	if err != nil {
		return fmt.Errorf("connack: %w", err)
	}
	if pk.FixedHeader.Type != packets.Connack {
		return fmt.Errorf("connack: got packet type %d", pk.FixedHeader.Type)
	}
	if pk.ReasonCode != 0 {
		return fmt.Errorf("%w: return code %d", errRefused, pk.ReasonCode)
	}
	return nil
}

// subscribe subscribes to filter and waits for a SUBACK that grants it.
func (c *conn) subscribe(filter string, qos byte, timeout time.Duration) error {
	_ = c.tc.SetDeadline(time.Now().Add(timeout))
	defer func() { _ = c.tc.SetDeadline(time.Time{}) }()
	err := c.write(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
		PacketID:    1,
		Filters:     packets.Subscriptions{{Filter: filter, Qos: qos}},
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	pk, err := c.read()
	if err != nil {
		return fmt.Errorf("suback %s: %w", filter, err)
	}
	if pk.FixedHeader.Type != packets.Suback || len(pk.ReasonCodes) != 1 || pk.ReasonCodes[0] > 2 {
		return fmt.Errorf("subscribe %s: refused by the broker (ACL?): %v", filter, pk.ReasonCodes)
	}
	return nil
}

// write encodes pk and writes it in one call (one TLS record, as a client
// library would).
func (c *conn) write(pk packets.Packet) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wb.Reset()
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&c.wb)
	case packets.Publish:
		err = pk.PublishEncode(&c.wb)
	case packets.Puback:
		err = pk.PubackEncode(&c.wb)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&c.wb)
	case packets.Pingreq:
		err = pk.PingreqEncode(&c.wb)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&c.wb)
	default:
		err = fmt.Errorf("cannot encode packet type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		return err
	}
	_, err = c.tc.Write(c.wb.Bytes())
	return err
}

// read reads one packet. A PUBLISH payload aliases the connection's buffer and
// is valid until the next read.
func (c *conn) read() (packets.Packet, error) {
	pk := packets.Packet{ProtocolVersion: 4}
	hb, err := c.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(hb); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	buf := c.buf[:n]
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return pk, err
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(buf)
	case packets.Publish:
		err = pk.PublishDecode(buf)
	case packets.Puback:
		err = pk.PubackDecode(buf)
	case packets.Suback:
		err = pk.SubackDecode(buf)
	case packets.Pingresp:
	default:
		err = fmt.Errorf("unexpected packet type %d", pk.FixedHeader.Type)
	}
	return pk, err
}

// ping sends PINGREQ; the reader discards the PINGRESP.
func (c *conn) ping() error {
	return c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
}

// disconnect sends DISCONNECT and closes the socket.
func (c *conn) disconnect() {
	c.closing.Store(true)
	_ = c.tc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	c.close()
}

func (c *conn) close() {
	c.closing.Store(true)
	_ = c.tc.Close()
}

// errKind names an error for the summary's error table.
func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, errRefused):
		return "connack refused"
	case errors.Is(err, errTimeout), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, errClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed by broker"
	}
	for _, k := range []string{"dial", "handshake", "connack", "subscribe", "suback", "connect"} {
		if strings.HasPrefix(err.Error(), k) {
			return k
		}
	}
	return "other"
}
