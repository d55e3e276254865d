// Package ui is the Gatehouse operator TUI: a bubbletea program with eight
// views (home, certificates, connections, transports, activity, trust,
// telemetry, policy) written against the Backend interface, so the same TUI runs on
// an in-process broker or attached to a daemon's admin socket. It is a leaf:
// it speaks the service's own types (package app) and only the composition
// root imports it. The root model only routes; the copy of the daemon's
// state lives in package state, the views in package pages. Certificates
// are keyed by their ID (serial and issuer), as the store keys them.
//
// Concurrency contract (DESIGN section 7):
//
//   - Only Model.Update changes UI state. Pages are pointers owned by the
//     root model and are touched only from its Update and View. The pages
//     that show sessions hold the root's *state.State and only read it; the
//     root changes it (Replace, Apply, Expire, PutCert) and then tells them
//     to refresh.
//   - A burst of typed keys arriving as one message is split and handled key
//     by key, in order, so typeahead never acts on the wrong row.
//   - Every Backend call runs in a tea.Cmd that captures its arguments (the
//     context, the backend, an intent) and never reads the model.
//   - Live events are read from the Backend.Subscribe channel by a command
//     that re-arms itself after each batch. A batch is the first event plus
//     whatever else arrives within 33 ms (at most 1,000 events), so a storm of
//     events costs at most ~30 updates and redraws a second. Nothing in the
//     broker ever calls Program.Send, which would block MQTT clients while the
//     TUI is busy or suspended.
//   - Events are lossy by design: the backend's channel is bounded and it
//     sends one broker.EventResync when it dropped some. The TUI then reloads
//     everything with Backend.Snapshot, as it does after ctrl+z, when the
//     stream closes and every two seconds (for session counters), every
//     second while the telemetry view is shown.
package ui
