package certs

import (
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/intent"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// Form fields, in tab order. The key type is a choice, not free text, so a
// typo cannot reach the backend.
const (
	fieldCN = iota
	fieldTTL
	fieldKey
	fieldOut
	fieldCount
)

// KeyTypes are the key types the create form offers, default first.
var KeyTypes = []string{"ecdsa-p256", "rsa-2048", "rsa-3072", "ed25519"}

var fieldLabels = [fieldCount]string{"Common name", "TTL", "Key type", "Output dir"}

// form is the create-certificate form.
type form struct {
	c      common.Common
	inputs [fieldCount]textinput.Model // fieldKey's input is unused
	key    int                         // index into KeyTypes
	focus  int
	busy   bool
	err    string
}

// createdInfo is what the result panel shows after a successful create.
type createdInfo struct {
	cert    store.Cert
	files   []string
	warning string
}

func newForm(c common.Common) form {
	f := form{c: c}
	placeholders := [fieldCount]string{"blank: generated", "365d", "", "./<cn>/"}
	for i := range f.inputs {
		in := textinput.New()
		in.Prompt = ""
		in.Placeholder = placeholders[i]
		in.PlaceholderStyle = c.Styles.Muted
		in.CharLimit = 256
		in.Cursor.SetMode(cursor.CursorStatic) // no blink ticks redrawing over SSH
		f.inputs[i] = in
	}
	return f
}

func (f *form) setWidth(w int) {
	for i := range f.inputs {
		f.inputs[i].Width = max(8, min(w-4, 64)-16)
	}
}

func (f *form) open() tea.Cmd {
	f.busy, f.err, f.key = false, "", 0
	for i := range f.inputs {
		f.inputs[i].Reset()
	}
	return f.setFocus(fieldCN)
}

func (f *form) setFocus(i int) tea.Cmd {
	f.focus = (i + fieldCount) % fieldCount
	for j := range f.inputs {
		f.inputs[j].Blur()
	}
	if f.focus == fieldKey {
		return nil
	}
	return f.inputs[f.focus].Focus()
}

func (f *form) intent() intent.Create {
	v := func(i int) string { return strings.TrimSpace(f.inputs[i].Value()) }
	return intent.Create{CN: v(fieldCN), TTL: v(fieldTTL), KeyType: KeyTypes[f.key], OutDir: v(fieldOut)}
}

func (f *form) help() []key.Binding {
	k := f.c.Keys
	submit, cancel := k.Submit, k.Back
	submit.SetHelp("enter", "create")
	cancel.SetHelp("esc", "cancel")
	if f.busy {
		return nil
	}
	b := []key.Binding{submit, k.NextField, k.PrevField}
	if f.focus == fieldKey {
		b = append(b, k.Cycle)
	}
	return append(b, cancel)
}

func (p *Page) updateForm(k tea.KeyMsg) tea.Cmd {
	f := &p.form
	if f.busy {
		return nil // a create is in flight; its result closes or reopens the form
	}
	keys := p.c.Keys
	switch {
	case key.Matches(k, keys.Submit):
		f.busy, f.err = true, ""
		return common.Emit(f.intent())
	case key.Matches(k, keys.Back):
		p.setMode(p.back)
		return nil
	case key.Matches(k, keys.NextField):
		return f.setFocus(f.focus + 1)
	case key.Matches(k, keys.PrevField):
		return f.setFocus(f.focus - 1)
	case f.focus == fieldKey && key.Matches(k, keys.Cycle):
		step := 1
		if k.String() == "left" {
			step = len(KeyTypes) - 1
		}
		f.key = (f.key + step) % len(KeyTypes)
		return nil
	case f.focus == fieldKey:
		return nil
	}
	var cmd tea.Cmd
	f.inputs[f.focus], cmd = f.inputs[f.focus].Update(k)
	return cmd
}

// Created shows the result panel for a certificate issued from the form and
// selects it in the table. warning, when set, is about where the key went
// (inside a git work tree) and shows in red.
func (p *Page) Created(c store.Cert, files []string, warning string) {
	p.form.busy = false
	p.created = createdInfo{cert: c, files: files, warning: warning}
	p.selected = c.ID
	p.refilter()
	p.setMode(modeCreated)
}

// CreateFailed reopens the form with the error so the operator can fix a
// field and submit again.
func (p *Page) CreateFailed(err error) {
	p.form.busy = false
	p.form.err = err.Error()
	if p.mode != modeForm {
		p.setMode(modeForm)
	}
}

func (p *Page) formView() string {
	f, s := &p.form, p.c.Styles
	var b strings.Builder
	for i := range fieldCount {
		marker := "  "
		if i == f.focus {
			marker = "> "
		}
		b.WriteString(marker + s.Label.Render(padRight(fieldLabels[i], 12)) + " ")
		if i == fieldKey {
			b.WriteString("‹ " + KeyTypes[f.key] + " ›")
			if f.key == 0 {
				b.WriteString(s.Muted.Render(" (default)"))
			}
		} else {
			b.WriteString(f.inputs[i].View())
		}
		b.WriteString("\n")
	}
	b.WriteString("\nBlank fields take the defaults shown.")
	hint := "enter create · tab next field · ←/→ key · esc cancel"
	switch {
	case f.busy:
		hint = "creating… (RSA keys can take a few seconds)"
	case f.err != "":
		b.WriteString("\n" + s.StatusError.Render("error: "+f.err))
	}
	return p.c.Dialog(p.width, p.height, "New client certificate", b.String(), hint)
}

func (p *Page) createdView() string {
	c, s := p.created.cert, p.c.Styles
	var b strings.Builder
	b.WriteString("Created " + termsafe.Clean(c.CN) + " (" + common.ShortSerial(c.Serial) + "), state " + string(c.State) + ".\n\nWrote:\n")
	for _, f := range p.created.files {
		b.WriteString("  " + termsafe.Clean(f) + "\n")
	}
	b.WriteString("\n" + s.Bad.Render("The private key is not kept by Gatehouse:") +
		"\nclient.key above is the only copy. Move it to the device.")
	if w := p.created.warning; w != "" {
		b.WriteString("\n\n" + s.Bad.Render("Warning: "+termsafe.Clean(w)))
	}
	return p.c.Dialog(p.width, p.height, "Certificate created", b.String(), "enter/esc close")
}

func padRight(s string, w int) string {
	if n := w - len([]rune(s)); n > 0 {
		return s + strings.Repeat(" ", n)
	}
	return s
}
