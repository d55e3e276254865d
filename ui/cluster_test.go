package ui

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// A cluster node cut off from etcd says so on Home, in one line above the
// panes; a single appliance shows no such line.
func TestHomeShowsTheClusterPosture(t *testing.T) {
	tests := map[string]struct {
		posture *app.ClusterPosture
		want    string
	}{
		"offline": {&app.ClusterPosture{Node: "gh2", Offline: true, Since: t0.Add(-time.Minute), Revision: 57},
			"cluster: etcd unreachable since " + t0.Add(-time.Minute).Local().Format(time.TimeOnly) + ", enforcing last known state (rev 57)"},
		"online": {&app.ClusterPosture{Node: "gh2", Revision: 60}, "cluster: node gh2, etcd reachable (rev 60)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			f.snap.Cluster = tc.posture
			m, _ := loaded(t, f, 120, 40, withStartPage(PageHome))
			requireContains(t, m.View(), tc.want, "Certificates (", "Recent activity")
		})
	}
	m, _ := loaded(t, newFake(), 120, 40, withStartPage(PageHome))
	requireLacks(t, m.View(), "cluster:")
}

// :cluster lists the nodes with their sessions, lag and listeners and the
// etcd endpoints; esc closes it. On a single appliance it says standalone.
func TestClusterViewListsNodes(t *testing.T) {
	f := newFake()
	f.cluster = app.ClusterStatus{Node: "gh1", Store: "etcd:http://10.0.0.5:2379/gatehouse", Head: 812,
		Posture: &app.ClusterPosture{Node: "gh1", Revision: 812},
		Nodes: []store.NodeInfo{
			{Name: "gh1", Addrs: []string{"mqtts=10.0.0.11:8883"}, Started: t0.Add(-time.Hour), Heartbeat: t0.Add(-2 * time.Second), Sessions: 3012, Applied: 812},
			{Name: "gh2", Addrs: []string{"mqtts=10.0.0.12:8883"}, Started: t0.Add(-time.Hour), Heartbeat: t0.Add(-3 * time.Second), Sessions: 2987, Applied: 805, Lag: 7},
		},
		Endpoints: []store.Endpoint{{URL: "http://10.0.0.5:2379", Healthy: true, Leader: true}, {URL: "http://10.0.0.6:2379", Error: "context deadline exceeded"}},
	}
	m, _ := loaded(t, f, 120, 40, withStartPage(PageConnections))
	press(m, ":", "cluster", "enter")
	if got := lastCall(f); got != "cluster status" {
		t.Fatalf(":cluster called %q", got)
	}
	requireContains(t, m.View(), "cluster: node gh1, etcd reachable (rev 812)", "2 nodes · etcd head revision 812",
		"gh1", "3012", "mqtts=10.0.0.11:8883", "gh2", "2987", "mqtts=10.0.0.12:8883",
		"http://10.0.0.5:2379 healthy", "http://10.0.0.6:2379 unreachable")
	press(m, "esc")
	requireLacks(t, m.View(), "etcd head revision")
	requireContains(t, m.View(), "CLIENT")

	f.cluster = app.ClusterStatus{Standalone: true, Store: "/var/lib/gatehouse/gatehouse.db"}
	press(m, ":", "cluster", "enter")
	requireContains(t, m.View(), "standalone (bbolt store /var/lib/gatehouse/gatehouse.db)")
}
