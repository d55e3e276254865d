package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
)

func newCluster(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:     "cluster",
		Short:   "The nodes sharing this store in etcd",
		Example: "  gatehouse cluster status",
		Args:    cobra.NoArgs,
		RunE:    needsSubcommand,
	}
	c.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "List the cluster's nodes, their sessions and watch lag, and etcd's health",
		Long: `List the nodes alive in the cluster (name, listeners, start, sessions,
last heartbeat, how many etcd revisions each has yet to apply) and each etcd
endpoint's health, as the running node sees them. On a single appliance it
says the store is a file and exits 0.`,
		Example: "  gatehouse cluster status --json",
		Args:    cobra.NoArgs,
		RunE: g.withReader(func(cmd *cobra.Command, svc app.Service, _ []string) error {
			st, err := svc.ClusterStatus(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(st)
			}
			return printClusterStatus(g, st)
		}),
	})
	return c
}

func printClusterStatus(g *globals, st app.ClusterStatus) error {
	if st.Standalone {
		_, err := fmt.Fprintf(g.stdout, "standalone (bbolt store %s)\n", st.Store)
		return err
	}
	if _, err := fmt.Fprintf(g.stdout, "%s\nstore %s, etcd head revision %d\n\n", st.Posture.Line(), st.Store, st.Head); err != nil {
		return err
	}
	rows := make([][]string, 0, len(st.Nodes))
	for _, n := range st.Nodes {
		rows = append(rows, []string{n.Name, strings.Join(n.Addrs, " "), n.Started.Local().Format(time.DateTime),
			strconv.Itoa(n.Sessions), time.Since(n.Heartbeat).Truncate(time.Second).String() + " ago", strconv.FormatInt(n.Lag, 10)})
	}
	if err := g.table([]string{"NODE", "LISTENERS", "STARTED", "SESSIONS", "HEARTBEAT", "LAG"}, rows); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(g.stdout); err != nil {
		return err
	}
	rows = rows[:0]
	for _, e := range st.Endpoints {
		health := "healthy"
		if !e.Healthy {
			health = "unhealthy: " + e.Error
		}
		role := "-"
		if e.Leader {
			role = "leader"
		}
		rows = append(rows, []string{e.URL, health, orDash(e.Version), role})
	}
	return g.table([]string{"ETCD ENDPOINT", "HEALTH", "VERSION", "ROLE"}, rows)
}
