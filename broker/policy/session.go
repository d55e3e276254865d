package policy

// sessionRule is a rule that applies to one session, its variables filled.
type sessionRule struct {
	id     string
	allow  bool
	levels []level
	src    Rule
}

// Session is a Policy compiled for one identity: only the rules whose
// selector picks it, split by action. It is immutable and safe for concurrent
// use; the broker builds one per session and rebuilds it when the policy is
// swapped (From tells which policy it came from).
type Session struct {
	from         *Policy
	pub, sub     []sessionRule
	all          []sessionRule // every rule that applies, in order
	pubIdx       *trie         // s.pub by filter level
	subIdx       *trie         // s.sub by filter level
	defaultAllow bool
}

// Session compiles p for id.
func (p *Policy) Session(id Identity) *Session {
	s := &Session{from: p, defaultAllow: p.defaultAllow}
	for _, r := range p.rules {
		if !r.who.applies(id, p.issuers) {
			continue
		}
		sr := sessionRule{id: r.src.ID, allow: r.allow, levels: substitute(r.levels, id), src: r.src}
		s.all = append(s.all, sr)
		if r.actions&actPublish != 0 {
			s.pub = append(s.pub, sr)
		}
		if r.actions&actSubscribe != 0 {
			s.sub = append(s.sub, sr)
		}
	}
	s.pubIdx, s.subIdx = index(s.pub), index(s.sub)
	return s
}

func index(rules []sessionRule) *trie {
	t := newTrie()
	for i, r := range rules {
		t.add(r.levels, i, r.allow)
	}
	return t
}

// From is the policy s was compiled from.
func (s *Session) From() *Policy { return s.from }

// Publish decides whether the session may publish on topic, and names the
// deciding rule (DefaultRule when none applied). It does not allocate.
func (s *Session) Publish(topic string) (bool, string) { return s.decideTopic(s.pub, s.pubIdx, topic) }

// Receive decides whether a message on topic may be delivered to the
// session, which needs the subscribe right on it: a rule changed since the
// session subscribed applies at delivery. It does not allocate.
func (s *Session) Receive(topic string) (bool, string) { return s.decideTopic(s.sub, s.subIdx, topic) }

func (s *Session) decideTopic(rules []sessionRule, idx *trie, topic string) (bool, string) {
	m := match{deny: -1, allow: -1}
	idx.walk(&m, topic, false, true, len(topic) > 0 && topic[0] == '$')
	switch {
	case m.deny >= 0:
		return false, rules[m.deny].id
	case m.allow >= 0:
		return true, rules[m.allow].id
	}
	return s.defaultAllow, DefaultRule
}

// Subscribe decides whether the session may subscribe to filter: no deny
// rule may match any topic the filter matches, and an allow rule (or the
// default) must cover all of them. A malformed filter is refused by the
// default rule name. A filter without wildcards is the topic check.
func (s *Session) Subscribe(filter string) (bool, string) {
	f, ok := parseClientFilter(filter)
	if !ok {
		return false, DefaultRule
	}
	allowBy := ""
	for i := range s.sub {
		r := &s.sub[i]
		if !r.allow {
			if intersects(r.levels, f) {
				return false, r.id
			}
			continue
		}
		if allowBy == "" && covers(r.levels, f) {
			allowBy = r.id
		}
	}
	if allowBy != "" {
		return true, allowBy
	}
	return s.defaultAllow, DefaultRule
}

// Grant is one rule as it applies to a session, variables filled: what the
// session may or may not do.
type Grant struct {
	Rule   string `json:"rule"`
	Effect string `json:"effect"`
	Action string `json:"action"`
	Topic  string `json:"topic"`
}

// Grants lists the rules that apply to the session, in order, with their
// filters as substituted ("(none)" marks a level a variable could not fill).
func (s *Session) Grants() []Grant {
	out := make([]Grant, 0, len(s.all))
	for _, r := range s.all {
		out = append(out, Grant{Rule: r.id, Effect: r.src.Effect, Action: r.src.Action, Topic: render(r.levels)})
	}
	return out
}

// DefaultAllow reports whether the default decision allows for the session.
func (s *Session) DefaultAllow() bool { return s.defaultAllow }
