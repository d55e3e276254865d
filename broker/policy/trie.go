package policy

import "strings"

// trie indexes a session's rules by filter level, so a topic check walks the
// topic's levels instead of every rule: its cost does not grow with the
// number of rules that cannot match.
type trie struct {
	lit  map[string]*trie
	plus *trie
	// Lowest index (list order) of a deny and an allow rule whose filter ends
	// here, and of those ending here with '#'; -1 when none.
	endDeny, endAllow, hashDeny, hashAllow int
}

func newTrie() *trie { return &trie{endDeny: -1, endAllow: -1, hashDeny: -1, hashAllow: -1} }

// add indexes rule number i. A rule with a level that matches nothing is
// left out.
func (t *trie) add(ls []level, i int, allow bool) {
	n := t
	for _, l := range ls {
		switch l.kind {
		case levelNone:
			return
		case levelHash:
			setMin(&n.hashDeny, &n.hashAllow, i, allow)
			return
		case levelPlus:
			if n.plus == nil {
				n.plus = newTrie()
			}
			n = n.plus
		case levelLit:
			if n.lit == nil {
				n.lit = map[string]*trie{}
			}
			c := n.lit[l.text]
			if c == nil {
				c = newTrie()
				n.lit[l.text] = c
			}
			n = c
		}
	}
	setMin(&n.endDeny, &n.endAllow, i, allow)
}

func setMin(deny, allow *int, i int, isAllow bool) {
	p := deny
	if isAllow {
		p = allow
	}
	if *p < 0 || i < *p {
		*p = i
	}
}

// match is the state of one walk: the lowest matching deny and allow rule.
type match struct{ deny, allow int }

func (m *match) note(deny, allow int) {
	if deny >= 0 && (m.deny < 0 || deny < m.deny) {
		m.deny = deny
	}
	if allow >= 0 && (m.allow < 0 || allow < m.allow) {
		m.allow = allow
	}
}

// walk records every rule under n that matches topic, whose remaining
// levels are t (done: none remain). root is true at the first level, where
// wildcards do not match a topic starting with '$'.
func (n *trie) walk(m *match, t string, done, root, dollar bool) {
	if !(root && dollar) {
		m.note(n.hashDeny, n.hashAllow) // '#' also matches the parent level
	}
	if done {
		m.note(n.endDeny, n.endAllow)
		return
	}
	seg, rest, last := t, "", true
	if j := strings.IndexByte(t, '/'); j >= 0 {
		seg, rest, last = t[:j], t[j+1:], false
	}
	if c := n.lit[seg]; c != nil {
		c.walk(m, rest, last, false, dollar)
	}
	if n.plus != nil && !(root && dollar) {
		n.plus.walk(m, rest, last, false, dollar)
	}
}
