package broker_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// MQTT bytes written and read by the raw client.
const (
	pktConnect    = 0x10
	pktConnack    = 0x20
	pktPublish    = 0x30
	pktDisconnect = 0xE0
)

// connectPacket encodes a clean-session CONNECT for protocol level 4 (3.1.1)
// or 5, keepalive 60 s.
func connectPacket(level byte, id string) []byte {
	return connectPacketWith(level, id, true, 60)
}

// connectPacketWith encodes a CONNECT with the session and keepalive given.
func connectPacketWith(level byte, id string, clean bool, keepalive uint16) []byte {
	flags := byte(0)
	if clean {
		flags = 0x02
	}
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', level, flags, byte(keepalive >> 8), byte(keepalive)}
	if level == 5 {
		body = append(body, 0) // no properties
	}
	body = append(body, byte(len(id)>>8), byte(len(id)))
	body = append(body, id...)
	return append([]byte{pktConnect, byte(len(body))}, body...)
}

// publishPacket encodes a QoS 0 PUBLISH for protocol level 4.
func publishPacket(topic string, payload []byte) []byte {
	body := []byte{byte(len(topic) >> 8), byte(len(topic))}
	body = append(body, topic...)
	body = append(body, payload...)
	return append(append([]byte{pktPublish}, remLen(len(body))...), body...)
}

// subscribePacket is an MQTT 3.1.1 SUBSCRIBE (packet id 1, QoS 1) to filter.
func subscribePacket(filter string) []byte {
	body := []byte{0, 1, byte(len(filter) >> 8), byte(len(filter))}
	body = append(body, filter...)
	body = append(body, 1)
	return append(append([]byte{0x82}, remLen(len(body))...), body...)
}

func remLen(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

// rawClient speaks just enough MQTT over TLS for tests that need protocol 5,
// exact bytes, or thousands of cheap sessions.
type rawClient struct {
	net.Conn
	r       *bufio.Reader
	level   byte
	present bool // CONNACK said the session was resumed
}

// dialRaw completes TLS and CONNECT/CONNACK; the error explains a refusal.
func dialRaw(addr string, cfg *tls.Config, level byte, id string) (*rawClient, error) {
	return dialRawWith(addr, cfg, connectPacket(level, id))
}

// dialRawWith completes TLS and sends connect, a CONNECT packet.
func dialRawWith(addr string, cfg *tls.Config, connect []byte) (*rawClient, error) {
	level := connect[8]
	d := &net.Dialer{Timeout: wait}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("tls dial %s: %w", addr, err)
	}
	c := &rawClient{Conn: conn, r: bufio.NewReader(conn), level: level}
	_ = conn.SetDeadline(time.Now().Add(wait))
	if _, err := conn.Write(connect); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("write CONNECT: %w", err)
	}
	typ, body, err := c.readPacket()
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("read CONNACK: %w", err)
	}
	if typ != pktConnack || len(body) < 2 || body[1] != 0 {
		_ = conn.Close()
		return nil, fmt.Errorf("CONNACK refused: type %#x body %x", typ, body)
	}
	c.present = body[0]&1 == 1
	_ = conn.SetDeadline(time.Time{})
	return c, nil
}

// readPacket returns the next packet's type nibble (flags cleared) and body.
func (c *rawClient) readPacket() (byte, []byte, error) {
	h, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mult
		if b&0x80 == 0 {
			break
		}
		mult *= 128
		if mult > 128*128*128 {
			return 0, nil, errors.New("malformed remaining length")
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	return h & 0xF0, body, nil
}

// waitClosed reads until the broker closes the connection and returns the
// DISCONNECT reason code it sent first (-1 if none).
func (c *rawClient) waitClosed() (int, error) {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	reason := -1
	for {
		typ, body, err := c.readPacket()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return reason, fmt.Errorf("connection still open: %w", err)
			}
			return reason, nil
		}
		if typ == pktDisconnect {
			reason = 0
			if len(body) > 0 {
				reason = int(body[0])
			}
		}
	}
}
