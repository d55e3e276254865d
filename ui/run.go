package ui

import (
	"context"
	"errors"
	"fmt"

	tea "github.com/charmbracelet/bubbletea"
)

// Run runs the TUI on the terminal, in the alternate screen, until the
// operator quits or ctx is cancelled; both return nil. Options are passed
// to New.
func Run(ctx context.Context, b Backend, opts ...Option) error {
	m := New(b, append([]Option{WithContext(ctx)}, opts...)...)
	_, err := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(ctx)).Run()
	if err != nil && !(errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil) {
		return fmt.Errorf("run terminal UI: %w", err)
	}
	return nil
}
