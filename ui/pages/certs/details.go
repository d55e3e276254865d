package certs

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// updateDetails handles keys in the details view: back, the lifecycle
// actions on the certificate shown, and scrolling.
func (p *Page) updateDetails(k tea.KeyMsg) tea.Cmd {
	if key.Matches(k, p.keys.Back) {
		p.setMode(modeList)
		return nil
	}
	if key.Matches(k, p.keys.New) {
		return nil // creating from inside the details would lose the operator's place
	}
	if cmd, ok := p.action(k); ok {
		return cmd
	}
	var cmd tea.Cmd
	p.vp, cmd = p.vp.Update(k)
	return cmd
}
