package main

import (
	"context"
	"log/slog"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/admin"
	"github.com/gatehouse/gatehouse/ui"
)

// runTUI opens the TUI attached to the daemon serving the data directory, or
// starts the broker in-process (with its admin socket, so a second terminal
// can script it) when none runs. Quitting stops an in-process broker.
func runTUI(ctx context.Context, g *globals, bf brokerFlags) error {
	dir, err := g.dataDir()
	if err != nil {
		return err
	}
	if admin.Alive(dir) {
		c, err := admin.Dial(dir, "tui")
		if err != nil {
			return err
		}
		return ui.Run(ctx, c)
	}
	f, err := logFile(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := g.startDaemon(dir, bf, slog.New(slog.NewTextHandler(f, nil)), "tui")
	if err != nil {
		return err
	}
	defer d.Close()
	return ui.Run(ctx, d.app)
}
