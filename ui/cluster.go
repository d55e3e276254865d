package ui

import (
	"context"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
)

// clusterStatusMsg is the answer to clusterStatus.
type clusterStatusMsg struct {
	status app.ClusterStatus
	err    error
}

// clusterStatus asks the backend for the :cluster view's status.
func clusterStatus(ctx context.Context, b Backend) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		st, err := b.ClusterStatus(ctx)
		return clusterStatusMsg{status: st, err: err}
	}
}
