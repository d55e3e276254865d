package ui

import (
	"context"
	"fmt"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/intent"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// tokenTransitionMsg is the answer to an intent.TokenTransition.
type tokenTransitionMsg struct {
	intent intent.TokenTransition
	res    app.TokenTransitionResult
	err    error
}

// runTokenCommand runs ":token suspend|reactivate|revoke SUB-or-JTI": the
// console acts on token subjects as on certificates. A revoke asks y/n.
func (m *Model) runTokenCommand(args []string) tea.Cmd {
	if len(args) == 0 {
		m.overlay = m.tokens // over the current view: no tab of its own
		m.tokens.Open()
		return nil
	}
	if len(args) != 2 {
		m.fail(fmt.Errorf(":token needs suspend, reactivate or revoke and a subject or jti"))
		return nil
	}
	to, ok := certVerbs[args[0]]
	if !ok || to == "" {
		m.fail(fmt.Errorf(":token %s: want suspend, reactivate or revoke", termsafe.Clean(args[0])))
		return nil
	}
	in := intent.TokenTransition{Ref: args[1], To: to}
	if to == store.StateRevoked {
		live := 0
		for _, s := range m.st.Sessions() {
			if s.Subject == in.Ref {
				live++
			}
		}
		m.cmdline.confirmToken = &in
		m.cmdline.ask = fmt.Sprintf("revoke token %s? a subject's revoke is final; drops %s", in.Ref, common.Plural(live, "session"))
		return nil
	}
	return common.Emit(in)
}

func tokenTransition(ctx context.Context, b Backend, in intent.TokenTransition) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		res, err := b.TokenTransition(ctx, in.Ref, in.To, "")
		return tokenTransitionMsg{intent: in, res: res, err: err}
	}
}

// tokenDone reports a token transition in the status line.
func (m *Model) tokenDone(msg tokenTransitionMsg) tea.Cmd {
	in := msg.intent
	if msg.err != nil {
		m.fail(fmt.Errorf("%s token %s: %w", verbs[in.To][0], termsafe.Clean(in.Ref), msg.err))
		return nil
	}
	what := "subject " + msg.res.Subject.Subject
	if msg.res.JTI != "" {
		what = "token " + msg.res.JTI + " of " + msg.res.Subject.Subject
	}
	m.info(fmt.Sprintf("%s %s, dropped %s", verbs[in.To][2], termsafe.Clean(what), common.Plural(msg.res.Dropped, "session")))
	return m.reload(false)
}
