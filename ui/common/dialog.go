package common

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
)

// Dialog renders a bordered box with a title, a body and a hint line,
// centred in a width x height area. Confirmations and forms use it so that
// they look alike on every page.
func (c Common) Dialog(width, height int, title, body, hint string) string {
	inner := min(width-4, 64)
	parts := []string{c.Styles.DialogTitle.Render(title), ""}
	parts = append(parts, lipgloss.NewStyle().Width(inner).Render(body))
	if hint != "" {
		parts = append(parts, "", c.Styles.Muted.Render(hint))
	}
	box := c.Styles.Dialog.Render(strings.Join(parts, "\n"))
	return lipgloss.Place(width, height, lipgloss.Center, lipgloss.Center, box)
}
