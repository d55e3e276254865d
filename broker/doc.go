// Package broker runs Gatehouse's MQTT broker: mochi-mqtt v2 behind gate
// listeners that enforce client certificates at the TLS handshake, and a gate
// hook that keeps a certificate -> sessions index so that suspending or revoking a
// certificate drops its sessions at once.
//
// # Transports
//
// mqtts (MQTT over TLS), wss (MQTT over secure websocket, subprotocol "mqtt")
// and optional plain mqtt. Every TLS transport is served by a gate listener
// that owns the socket: it peeks the first byte (a plaintext CONNECT, 0x10,
// is refused as "plaintext MQTT on TLS port"), runs the handshake under
// Config.HandshakeTimeout and asks the Authorizer in VerifyConnection (a
// read-only Check), so a refused client never gets to send an MQTT byte. Only
// once the handshake has completed, the client's CertificateVerify signature
// checked, does Authorizer.FirstUse record the first use (activation,
// registration), still before any MQTT byte is read. Client-cert auth is an
// atomic per transport, read at each handshake: switching it needs no
// listener restart.
//
// # Concurrency contracts
//
//   - One mutex guards the index (live sessions by certificate ID; "" for sessions
//     without a certificate). The gate hook's OnConnectAuthenticate checks
//     Authorizer.Allowed, the expiry date and the transport's mode, and
//     registers the session under it, before CONNACK; DropSerial,
//     SetClientAuth and the expiry sweep take it to remove sessions. Callers
//     change the certificate state (or the mode) first, then drop: a connect
//     racing with a drop is either refused with a failed CONNACK or found and
//     dropped. A session leaves the index once, in OnDisconnect or when
//     mochi's attachClient returns without calling it.
//   - The mutex is never held while writing to a socket or emitting an event.
//     Authorizer.Allowed runs under it and must not call back into the broker.
//   - Drops run in the caller's goroutine (with a bounded set of helpers it
//     waits for), never inside a mochi hook: DisconnectClient writes to the
//     client and closes it, which must not happen on a hook's call stack
//     (mochi issue #492). DropSerial returns once the sockets are closed.
//   - Config.Emit is called from client and handshake goroutines and must
//     never block: it is expected to do a non-blocking send on a bounded
//     channel. Events: connected, disconnected (with a cause), refused (with
//     a reason), denied (with action, topic and rule; rate-limited per
//     session, the rest counted in a summary event).
//   - Config.OnPublish runs on the publishing client's goroutine for every
//     PUBLISH the policy allowed: like Emit it must be quick and never block.
//   - The authorization policy (package broker/policy) is an atomic pointer
//     swapped by SetPolicy; each session holds its compiled copy in an
//     atomic pointer and rebuilds it at the first check after a swap, so
//     checks take no lock and a change applies to the next publish,
//     subscribe and delivery of every live session.
//   - Session counters are atomics updated by the session's own goroutines;
//     Sessions returns a snapshot.
//   - mochi and the broker log only to Config.Logger (a discard logger by
//     default): the TUI owns the terminal.
package broker
