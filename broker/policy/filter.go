package policy

import (
	"fmt"
	"strings"
)

// Level kinds of a topic filter.
const (
	levelLit  = iota // a literal level
	levelPlus        // '+': exactly one level
	levelHash        // '#': this level and every one below, or none
	levelNone        // a variable with an unusable value: matches nothing
)

// Variables a rule's topic filter may hold.
const (
	varCN       = "${cn}"
	varClientID = "${client_id}"
	varSerial   = "${serial}"
	varSub      = "${sub}" // a token's subject
)

// tmplLevel is one level of a rule's filter before substitution.
type tmplLevel struct {
	kind    int
	text    string
	hasVars bool
}

// level is one level of a filter ready to match.
type level struct {
	kind int
	text string
}

// ValidFilter checks an MQTT topic filter: not empty, no NUL, '#' only as the
// whole last level, '+' only as a whole level.
func ValidFilter(f string) error {
	_, err := splitFilter(f, false)
	return err
}

// splitFilter parses a filter; with vars, levels may hold variables.
func splitFilter(f string, vars bool) ([]tmplLevel, error) {
	if f == "" || len(f) > maxFilter {
		return nil, fmt.Errorf("%w: topic filter must have 1 to %d bytes", ErrInvalid, maxFilter)
	}
	if strings.IndexByte(f, 0) >= 0 {
		return nil, fmt.Errorf("%w: topic filter %q holds a NUL byte", ErrInvalid, f)
	}
	parts := strings.Split(f, "/")
	out := make([]tmplLevel, len(parts))
	for i, s := range parts {
		switch {
		case s == "#":
			if i != len(parts)-1 {
				return nil, fmt.Errorf("%w: topic filter %q: '#' must be the last level", ErrInvalid, f)
			}
			out[i] = tmplLevel{kind: levelHash}
		case s == "+":
			out[i] = tmplLevel{kind: levelPlus}
		case strings.ContainsAny(s, "+#"):
			return nil, fmt.Errorf("%w: topic filter %q: '+' and '#' must fill a whole level", ErrInvalid, f)
		default:
			l := tmplLevel{kind: levelLit, text: s}
			if strings.Contains(s, "${") || strings.Contains(s, "$}") {
				if !vars {
					return nil, fmt.Errorf("%w: topic filter %q: variables are only for rules", ErrInvalid, f)
				}
				if err := checkVars(s); err != nil {
					return nil, fmt.Errorf("%w: topic filter %q: %v", ErrInvalid, f, err)
				}
				l.hasVars = true
			}
			out[i] = l
		}
	}
	return out, nil
}

// parseTemplate parses a rule's filter.
func parseTemplate(f string) ([]tmplLevel, error) { return splitFilter(f, true) }

// checkVars accepts only the known variables in a level.
func checkVars(s string) error {
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return nil
		}
		s = s[i:]
		j := strings.IndexByte(s, '}')
		if j < 0 {
			return fmt.Errorf("unterminated variable %q", s)
		}
		switch v := s[:j+1]; v {
		case varCN, varClientID, varSerial, varSub:
		default:
			return fmt.Errorf("unknown variable %s: want ${cn}, ${client_id}, ${serial} or ${sub}", v)
		}
		s = s[j+1:]
	}
}

// substitute fills a rule's variables for id. A variable whose value is
// empty, or holds '/', '+' or '#', could widen the filter: its level then
// matches nothing instead.
func substitute(t []tmplLevel, id Identity) []level {
	out := make([]level, len(t))
	r := strings.NewReplacer(varCN, id.CN, varClientID, id.ClientID, varSerial, id.Serial, varSub, id.Subject)
	for i, l := range t {
		out[i] = level{kind: l.kind, text: l.text}
		if !l.hasVars {
			continue
		}
		for _, v := range [][2]string{{varCN, id.CN}, {varClientID, id.ClientID}, {varSerial, id.Serial}, {varSub, id.Subject}} {
			if strings.Contains(l.text, v[0]) && (v[1] == "" || strings.ContainsAny(v[1], "/+#\x00")) {
				out[i] = level{kind: levelNone}
			}
		}
		if out[i].kind == levelLit {
			out[i].text = r.Replace(l.text)
		}
	}
	return out
}

// render writes levels back as a filter, for explanations.
func render(ls []level) string {
	var b strings.Builder
	for i, l := range ls {
		if i > 0 {
			b.WriteByte('/')
		}
		switch l.kind {
		case levelLit:
			b.WriteString(l.text)
		case levelPlus:
			b.WriteByte('+')
		case levelHash:
			b.WriteByte('#')
		case levelNone:
			b.WriteString("(none)")
		}
	}
	return b.String()
}

// parseClientFilter splits a client's subscription filter, without the
// "$share/GROUP/" prefix of a shared subscription.
func parseClientFilter(f string) ([]level, bool) {
	if rest, ok := strings.CutPrefix(f, "$share/"); ok {
		j := strings.IndexByte(rest, '/')
		if j <= 0 {
			return nil, false
		}
		f = rest[j+1:]
	}
	t, err := splitFilter(f, false)
	if err != nil {
		return nil, false
	}
	out := make([]level, len(t))
	for i, l := range t {
		out[i] = level{kind: l.kind, text: l.text}
	}
	return out, true
}

// dollarLit reports whether a level is a literal first level starting with '$'.
func dollarLit(ls []level) bool {
	return len(ls) > 0 && ls[0].kind == levelLit && strings.HasPrefix(ls[0].text, "$")
}

// covers reports whether every topic f matches is matched by r.
func covers(r, f []level) bool {
	fDollar := dollarLit(f)
	for i := range r {
		rl := r[i]
		if rl.kind == levelHash {
			return !(i == 0 && fDollar)
		}
		if i >= len(f) {
			return false
		}
		fl := f[i]
		switch rl.kind {
		case levelNone:
			return false
		case levelPlus:
			if fl.kind == levelHash || (i == 0 && fDollar) {
				return false
			}
		case levelLit:
			if fl.kind != levelLit || fl.text != rl.text {
				return false
			}
		}
	}
	return len(f) == len(r)
}

// intersects reports whether some topic is matched by both a and b.
func intersects(a, b []level) bool {
	aDollar, bDollar := dollarLit(a), dollarLit(b)
	for i := 0; ; i++ {
		if i == len(a) || i == len(b) {
			// One ended: the other must end here too, or go on with '#' only
			// ("a/#" matches "a").
			rest := a[i:]
			if i == len(a) {
				rest = b[i:]
			}
			return len(rest) == 0 || (len(rest) == 1 && rest[0].kind == levelHash)
		}
		al, bl := a[i], b[i]
		if al.kind == levelNone || bl.kind == levelNone {
			return false
		}
		aWild, bWild := al.kind != levelLit, bl.kind != levelLit
		if i == 0 && ((aWild && bDollar) || (bWild && aDollar)) {
			return false
		}
		if al.kind == levelHash || bl.kind == levelHash {
			return true
		}
		if !aWild && !bWild && al.text != bl.text {
			return false
		}
	}
}
