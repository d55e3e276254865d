package app

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// probeEvery is how often a cluster node asks etcd whether it answers: an
// outage shows in /readyz, the log and the TUI within about this long plus
// store.ProbeTimeout.
const probeEvery = time.Second

// heartbeatEvery is how often a cluster node announces itself (listeners,
// sessions, watch position) in etcd; well inside the registry lease.
const heartbeatEvery = 3 * time.Second

// ClusterPosture is a cluster node's view of etcd, for the TUI's Home and
// /readyz. Offline means etcd did not answer the last probe: the node
// enforces the last state it saw (Revision) and refuses writes.
type ClusterPosture struct {
	Node     string    `json:"node"`
	Offline  bool      `json:"offline"`
	Since    time.Time `json:"since,omitzero"` // when etcd stopped answering
	Revision int64     `json:"revision"`       // the revision this node's watch applied up to
}

// Line is the posture in one line, as the TUI and /readyz show it.
func (p ClusterPosture) Line() string {
	if p.Offline {
		return fmt.Sprintf("cluster: etcd unreachable since %s, enforcing last known state (rev %d)",
			p.Since.Local().Format(time.TimeOnly), p.Revision)
	}
	return fmt.Sprintf("cluster: node %s, etcd reachable (rev %d)", p.Node, p.Revision)
}

// posture is this node's cluster posture; nil on a store file.
func (a *App) posture() *ClusterPosture {
	if a.node == "" {
		return nil
	}
	h := a.st.Health()
	return &ClusterPosture{Node: a.node, Offline: !h.Reachable, Since: h.Since, Revision: h.Applied}
}

// probeEtcd probes etcd every probeEvery until ctx ends and logs, once per
// change, that it became unreachable or answers again. While it does not
// answer the store refuses writes at once and the watch waits; when it
// answers again the watch resumes from the revision it applied last, so
// what other nodes changed meanwhile applies here then.
func (a *App) probeEtcd(ctx context.Context) {
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		h, changed, err := a.st.Probe(ctx)
		switch {
		case errors.Is(err, errors.ErrUnsupported), ctx.Err() != nil:
			return
		case changed && !h.Reachable:
			a.log.Warn("etcd unreachable: enforcing the last known state and refusing writes", "rev", h.Applied, "err", h.Err)
		case changed:
			a.log.Info("etcd answers again: catching up from the watch revision", "rev", h.Applied, "head", h.Head)
			a.askReclaim() // sessions that connected meanwhile were not claimed
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ensureSoleNode refuses to serve under a node name another process serves
// under: two processes of one name would share an event log and registry
// entries and never take sessions over from each other. The entry of a node
// that died (its lease not run out yet) stays still, and frees the name
// after one heartbeat's wait.
func (a *App) ensureSoleNode() error {
	if a.node == "" {
		return nil
	}
	n, live, err := a.st.LiveNode(context.Background(), a.node, heartbeatEvery+time.Second)
	switch {
	case err != nil:
		return err
	case live:
		return fmt.Errorf("node %s already runs (started %s UTC, listening on %s): give every node its own --node name",
			a.node, n.Started.UTC().Format(time.DateTime), strings.Join(n.Addrs, " "))
	case n.Name != "":
		a.log.Info("the entry of this node's earlier run is no longer renewed: taking the name over", "started", n.Started)
	}
	return nil
}

// heartbeat announces this node in the registry every heartbeatEvery,
// after the announcement made at started, until ctx ends. While etcd is
// unreachable it waits for it instead.
func (a *App) heartbeat(ctx context.Context, reg *store.SessionRegistry, started time.Time) {
	tick := time.NewTicker(heartbeatEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if a.st.Health().Reachable {
			a.announce(reg, started)
		}
	}
}

// announce records this node's entry: its listeners, sessions and lag.
func (a *App) announce(reg *store.SessionRegistry, started time.Time) {
	h := a.st.Health()
	info := store.NodeInfo{Name: a.node, Started: started, Heartbeat: a.now(),
		Sessions: len(a.liveSessions()), Applied: h.Applied, Lag: max(0, h.Head-h.Applied)}
	if br := a.broker(); br != nil {
		for _, t := range br.Transports() {
			if t.Addr != "" {
				info.Addrs = append(info.Addrs, t.Name+"="+t.Addr)
			}
		}
	}
	if err := reg.Announce(info); err != nil {
		a.log.Debug("node heartbeat", "err", err)
	}
}

// ClusterStatus is what `gatehouse cluster status --json` prints. On a
// single appliance Standalone is set with the store file, and nothing else.
type ClusterStatus struct {
	Standalone bool             `json:"standalone"`
	Store      string           `json:"store"` // the store file, or etcd's endpoints and prefix
	Node       string           `json:"node,omitempty"`
	Posture    *ClusterPosture  `json:"posture,omitempty"`
	Head       int64            `json:"head,omitempty"` // etcd's revision at the last probe
	Nodes      []store.NodeInfo `json:"nodes,omitempty"`
	Endpoints  []store.Endpoint `json:"endpoints,omitempty"`
}

// ClusterStatus implements Service: the nodes alive in the registry with
// their sessions and watch lag, and each etcd endpoint's health. While etcd
// is unreachable, or without a registry, it reports the endpoints and this
// node's posture only.
func (a *App) ClusterStatus(ctx context.Context) (ClusterStatus, error) {
	if a.node == "" {
		return ClusterStatus{Standalone: true, Store: a.st.Path()}, nil
	}
	out := ClusterStatus{Store: a.st.Path(), Node: a.node, Posture: a.posture()}
	eps, err := a.st.Endpoints(ctx)
	if err != nil {
		return ClusterStatus{}, err
	}
	out.Endpoints = eps
	if out.Posture.Offline {
		return out, nil
	}
	// The probe loop's last answer, not a probe of its own: a probe here
	// that found etcd gone or back would take that change from the loop,
	// which logs it and claims the sessions again.
	h := a.st.Health()
	out.Head = max(h.Head, h.Applied) // the watch may be past the last probe's head
	reg := a.reg.Load()
	if reg == nil { // no broker yet, or the registry not opened yet (logged): no node list
		return out, nil
	}
	nodes, err := reg.Nodes(ctx)
	if err != nil {
		return ClusterStatus{}, err
	}
	for _, n := range nodes {
		if n.Name == a.node { // this node's own figures are live, not a heartbeat old
			n.Sessions, n.Applied, n.Lag = len(a.liveSessions()), h.Applied, max(0, h.Head-h.Applied)
		}
		out.Nodes = append(out.Nodes, n)
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Name < out.Nodes[j].Name })
	return out, nil
}
