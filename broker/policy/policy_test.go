package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// starter is the store's starter set (store/policy.go).
var starter = []Rule{
	{ID: "r1", Effect: Allow, Action: ActionPubSub, Topic: "kp1/+/+/${cn}/#", Who: WhoAny},
	{ID: "r2", Effect: Allow, Action: ActionPubSub, Topic: "devices/${cn}/#", Who: WhoAny},
}

// ours and partner are issuer hashes: dev1 is ours; partnerDev1 has dev1's
// serial and CN from a partner CA that copied our issuing CA's common name.
const (
	ours    = "00112233aabbccdd"
	partner = "99887766ffeeddcc"
)

var (
	dev1        = Identity{Serial: "3f2a9c", CertID: "3f2a9c/" + ours, CN: "dev1", Issuer: "Gatehouse Issuing CA", ClientID: "dev1"}
	partnerDev1 = Identity{Serial: "3f2a9c", CertID: "3f2a9c/" + partner, CN: "dev1", Issuer: "Gatehouse Issuing CA", ClientID: "dev1"}
	issuers     = Issuers{"default": {ours}, "Gatehouse Issuing CA": {ours}, "Partner CA": {partner}}
)

func compile(t testing.TB, def string, rules ...Rule) *Policy {
	t.Helper()
	p, err := Compile(rules, def)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type check struct {
	action string // publish | subscribe | receive
	topic  string
	allow  bool
	rule   string
}

func (c check) run(t *testing.T, s *Session) {
	t.Helper()
	var ok bool
	var rule string
	switch c.action {
	case ActionPublish:
		ok, rule = s.Publish(c.topic)
	case ActionSubscribe:
		ok, rule = s.Subscribe(c.topic)
	default:
		ok, rule = s.Receive(c.topic)
	}
	if ok != c.allow || rule != c.rule {
		t.Errorf("%s %q = %v by %s, want %v by %s", c.action, c.topic, ok, rule, c.allow, c.rule)
	}
}

func TestDecisions(t *testing.T) {
	tests := map[string]struct {
		def    string
		rules  []Rule
		iss    Issuers
		id     Identity
		checks []check
	}{
		"ok/starter own kaa subtree": {def: Deny, rules: starter, id: dev1, checks: []check{
			{ActionPublish, "kp1/demo-v1/dcx/dev1/json", true, "r1"},
			{ActionSubscribe, "kp1/demo-v1/dcx/dev1/#", true, "r1"},
			{ActionSubscribe, "kp1/+/+/dev1/#", true, "r1"},
			{"receive", "kp1/demo-v1/cmx/dev1/command", true, "r1"},
			{ActionPublish, "devices/dev1/state", true, "r2"},
			{ActionPublish, "devices/dev1", true, "r2"},
		}},
		"fail/starter other device": {def: Deny, rules: starter, id: dev1, checks: []check{
			{ActionPublish, "kp1/demo-v1/dcx/dev2/json", false, DefaultRule},
			{ActionSubscribe, "kp1/demo-v1/dcx/dev2/#", false, DefaultRule},
			{"receive", "kp1/demo-v1/dcx/dev2/json", false, DefaultRule},
			{ActionPublish, "devices/dev10/x", false, DefaultRule},
		}},
		"fail/starter wildcards beyond own subtree": {def: Deny, rules: starter, id: dev1, checks: []check{
			{ActionSubscribe, "#", false, DefaultRule},
			{ActionSubscribe, "kp1/#", false, DefaultRule},
			{ActionSubscribe, "kp1/+/+/+/#", false, DefaultRule},
			{ActionSubscribe, "devices/+/x", false, DefaultRule},
			{ActionSubscribe, "$SYS/#", false, DefaultRule},
			{ActionSubscribe, "$share/g/kp1/#", false, DefaultRule},
		}},
		"ok/shared subscription in own subtree": {def: Deny, rules: starter, id: dev1, checks: []check{
			{ActionSubscribe, "$share/g/devices/dev1/#", true, "r2"},
		}},
		"fail/anonymous gets nothing from any": {def: Deny, rules: starter, id: Identity{Anonymous: true, ClientID: "dev1"}, checks: []check{
			{ActionPublish, "kp1/demo-v1/dcx/dev1/json", false, DefaultRule},
			{ActionPublish, "kp1/demo-v1/dcx//json", false, DefaultRule},
		}},
		"ok/anonymous selector": {def: Deny, rules: []Rule{{ID: "a", Effect: Allow, Action: ActionSubscribe, Topic: "kp1/#", Who: WhoAnonymous}},
			id: Identity{Anonymous: true, ClientID: "x"}, checks: []check{
				{ActionSubscribe, "kp1/#", true, "a"},
				{ActionPublish, "kp1/x", false, DefaultRule},
			}},
		"fail/anonymous selector skips certified": {def: Deny, rules: []Rule{{ID: "a", Effect: Allow, Action: ActionSubscribe, Topic: "kp1/#", Who: WhoAnonymous}},
			id: dev1, checks: []check{{ActionSubscribe, "kp1/#", false, DefaultRule}}},
		"ok/token subject by ${sub} and sub:GLOB": {def: Deny, rules: []Rule{
			{ID: "s", Effect: Allow, Action: ActionPubSub, Topic: "meters/${sub}/#", Who: "sub:meter-*"},
			{ID: "a", Effect: Allow, Action: ActionSubscribe, Topic: "all/#", Who: WhoAny},
		}, id: Identity{Subject: "meter-7", ClientID: "m7"}, checks: []check{
			{ActionPublish, "meters/meter-7/t", true, "s"},
			{ActionPublish, "meters/meter-8/t", false, DefaultRule},
			{ActionSubscribe, "all/#", true, "a"},
		}},
		"fail/certificate selectors skip a token alone": {def: Deny, rules: []Rule{
			{ID: "c", Effect: Allow, Action: ActionPubSub, Topic: "#", Who: "cn:*"},
			{ID: "s", Effect: Allow, Action: ActionPubSub, Topic: "x/${sub}", Who: WhoAny},
		}, id: Identity{Subject: "meter-7", ClientID: "m7"}, checks: []check{
			{ActionPublish, "anything", false, DefaultRule},
			{ActionPublish, "x/meter-7", true, "s"},
		}},
		"fail/sub selector skips certificates": {def: Deny, rules: []Rule{
			{ID: "s", Effect: Allow, Action: ActionPubSub, Topic: "#", Who: "sub:*"},
			{ID: "v", Effect: Allow, Action: ActionPubSub, Topic: "v/${sub}", Who: WhoAny},
		}, id: dev1, checks: []check{
			{ActionPublish, "x", false, DefaultRule},
			{ActionPublish, "v/", false, DefaultRule},
		}},
		"ok/deny beats allow in any order": {def: Allow, rules: []Rule{
			{ID: "a", Effect: Allow, Action: ActionPubSub, Topic: "#", Who: WhoAny},
			{ID: "d", Effect: Deny, Action: ActionPublish, Topic: "secret/#", Who: WhoAny},
		}, id: dev1, checks: []check{
			{ActionPublish, "secret/x", false, "d"},
			{ActionPublish, "secret", false, "d"},
			{ActionPublish, "public/x", true, "a"},
			{ActionSubscribe, "secret/x", true, "a"},
		}},
		"ok/deny intersecting a subscription refuses it": {def: Deny, rules: []Rule{
			{ID: "a", Effect: Allow, Action: ActionSubscribe, Topic: "kp1/#", Who: WhoAny},
			{ID: "d", Effect: Deny, Action: ActionSubscribe, Topic: "kp1/+/+/admin/#", Who: WhoAny},
		}, id: dev1, checks: []check{
			{ActionSubscribe, "kp1/#", false, "d"},
			{ActionSubscribe, "kp1/a/b/+", false, "d"},
			{ActionSubscribe, "kp1/a/b/dev1/#", true, "a"},
			{"receive", "kp1/a/b/dev1/x", true, "a"},
			{"receive", "kp1/a/b/admin/x", false, "d"},
		}},
		"ok/dollar topics need an explicit rule": {def: Deny, rules: []Rule{
			{ID: "all", Effect: Allow, Action: ActionPubSub, Topic: "#", Who: WhoAny},
			{ID: "plus", Effect: Allow, Action: ActionSubscribe, Topic: "+/broker/#", Who: WhoAny},
		}, id: dev1, checks: []check{
			{ActionSubscribe, "$SYS/#", false, DefaultRule},
			{ActionSubscribe, "$SYS/broker/uptime", false, DefaultRule},
			{"receive", "$SYS/broker/uptime", false, DefaultRule},
			{ActionPublish, "$SYS/x", false, DefaultRule},
			{ActionSubscribe, "#", true, "all"},
			{ActionSubscribe, "+/broker/#", true, "all"},
		}},
		"ok/explicit sys rule": {def: Deny, rules: []Rule{
			{ID: "sys", Effect: Allow, Action: ActionSubscribe, Topic: "$SYS/#", Who: "cn:ops-*"},
		}, id: Identity{CN: "ops-1", Serial: "1"}, checks: []check{
			{ActionSubscribe, "$SYS/#", true, "sys"},
			{ActionSubscribe, "$SYS/broker/+", true, "sys"},
			{ActionSubscribe, "#", false, DefaultRule},
		}},
		"ok/plus covers one level only": {def: Deny, rules: []Rule{
			{ID: "p", Effect: Allow, Action: ActionPubSub, Topic: "a/+/c", Who: WhoAny},
		}, id: dev1, checks: []check{
			{ActionPublish, "a/b/c", true, "p"},
			{ActionPublish, "a//c", true, "p"},
			{ActionPublish, "a/b/c/d", false, DefaultRule},
			{ActionPublish, "a/c", false, DefaultRule},
			{ActionSubscribe, "a/+/c", true, "p"},
			{ActionSubscribe, "a/#", false, DefaultRule},
			{ActionSubscribe, "a/+/#", false, DefaultRule},
		}},
		"ok/hash matches its parent": {def: Deny, rules: []Rule{
			{ID: "h", Effect: Allow, Action: ActionPubSub, Topic: "a/#", Who: WhoAny},
		}, id: dev1, checks: []check{
			{ActionPublish, "a", true, "h"},
			{ActionSubscribe, "a", true, "h"},
			{ActionSubscribe, "a/#", true, "h"},
			{ActionPublish, "ab", false, DefaultRule},
			{ActionSubscribe, "+/x", false, DefaultRule},
		}},
		"ok/variables client id and serial": {def: Deny, rules: []Rule{
			{ID: "c", Effect: Allow, Action: ActionPublish, Topic: "clients/${client_id}/up", Who: WhoAny},
			{ID: "s", Effect: Allow, Action: ActionPublish, Topic: "serials/${serial}/up", Who: WhoAny},
			{ID: "m", Effect: Allow, Action: ActionPublish, Topic: "mixed/dev-${cn}-${serial}", Who: WhoAny},
		}, id: dev1, checks: []check{
			{ActionPublish, "clients/dev1/up", true, "c"},
			{ActionPublish, "serials/3f2a9c/up", true, "s"},
			{ActionPublish, "mixed/dev-dev1-3f2a9c", true, "m"},
			{ActionPublish, "clients/dev2/up", false, DefaultRule},
		}},
		"fail/variable values cannot widen a filter": {def: Deny, rules: []Rule{
			{ID: "c", Effect: Allow, Action: ActionPubSub, Topic: "clients/${client_id}/#", Who: WhoAny},
		}, id: Identity{Serial: "1", CN: "x", ClientID: "+"}, checks: []check{
			{ActionSubscribe, "clients/+/#", false, DefaultRule},
			{ActionPublish, "clients/a/b", false, DefaultRule},
		}},
		"fail/empty variable value matches nothing": {def: Deny, rules: starter, id: Identity{Serial: "1", CN: ""}, checks: []check{
			{ActionPublish, "devices//x", false, DefaultRule},
		}},
		"ok/selectors cert cn ca": {def: Deny, rules: selectorRules, iss: issuers, id: dev1, checks: []check{
			{ActionPublish, "by/id", true, "id"},
			{ActionPublish, "by/serial", true, "serial"},
			{ActionPublish, "by/cn", true, "cn"},
			{ActionPublish, "by/ca", true, "ca"},
			{ActionPublish, "by/ca-cn", true, "ca-cn"},
			{ActionPublish, "by/partner", false, DefaultRule},
			{ActionPublish, "by/other", false, DefaultRule},
		}},
		// The review's case: the same serial and issuer CN from another CA
		// is not the certificate, nor issued by our CA. Only a rule in the
		// old serial-only form still picks it.
		"fail/partner certificate with our serial and CA name": {def: Deny, rules: selectorRules, iss: issuers, id: partnerDev1, checks: []check{
			{ActionPublish, "by/id", false, DefaultRule},
			{ActionPublish, "by/ca", false, DefaultRule},
			{ActionPublish, "by/ca-cn", false, DefaultRule},
			{ActionPublish, "by/partner", true, "partner"},
			{ActionPublish, "by/serial", true, "serial"},
		}},
		"fail/ca rules match nothing unresolved": {def: Deny, rules: selectorRules, id: dev1, checks: []check{
			{ActionPublish, "by/ca", false, DefaultRule},
			{ActionPublish, "by/id", true, "id"},
		}},
		"ok/backend reader": {def: Deny, rules: append([]Rule{
			{ID: "b", Effect: Allow, Action: ActionSubscribe, Topic: "kp1/#", Who: "cn:backend-*"}}, starter...),
			id: Identity{Serial: "9", CN: "backend-eu"}, checks: []check{
				{ActionSubscribe, "kp1/#", true, "b"},
				{ActionPublish, "kp1/a/b/dev1/x", false, DefaultRule},
			}},
		"ok/default allow": {def: Allow, id: dev1, checks: []check{
			{ActionPublish, "any/thing", true, DefaultRule},
			{ActionSubscribe, "#", true, DefaultRule},
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := compile(t, tc.def, tc.rules...).WithIssuers(tc.iss).Session(tc.id)
			for _, c := range tc.checks {
				c.run(t, s)
			}
		})
	}
}

// selectorRules select dev1 in every way; "partner" the partner CA.
var selectorRules = []Rule{
	{ID: "id", Effect: Allow, Action: ActionPublish, Topic: "by/id", Who: "cert:3F2A9C/" + ours},
	{ID: "serial", Effect: Allow, Action: ActionPublish, Topic: "by/serial", Who: "cert:003F2A9C"},
	{ID: "cn", Effect: Allow, Action: ActionPublish, Topic: "by/cn", Who: "cn:dev?"},
	{ID: "ca", Effect: Allow, Action: ActionPublish, Topic: "by/ca", Who: "ca:default"},
	{ID: "ca-cn", Effect: Allow, Action: ActionPublish, Topic: "by/ca-cn", Who: "ca:Gatehouse Issuing CA"},
	{ID: "partner", Effect: Allow, Action: ActionPublish, Topic: "by/partner", Who: "ca:Partner CA"},
	{ID: "other", Effect: Allow, Action: ActionPublish, Topic: "by/other", Who: "cn:backend-*"},
}

func TestInvalid(t *testing.T) {
	good := Rule{ID: "r", Effect: Allow, Action: ActionPublish, Topic: "a/b", Who: WhoAny}
	tests := map[string]func(*Rule){
		"fail/effect":            func(r *Rule) { r.Effect = "permit" },
		"fail/action":            func(r *Rule) { r.Action = "read" },
		"fail/empty topic":       func(r *Rule) { r.Topic = "" },
		"fail/hash not last":     func(r *Rule) { r.Topic = "a/#/b" },
		"fail/hash in level":     func(r *Rule) { r.Topic = "a/b#" },
		"fail/plus in level":     func(r *Rule) { r.Topic = "a+/b" },
		"fail/unknown variable":  func(r *Rule) { r.Topic = "a/${user}" },
		"fail/unterminated var":  func(r *Rule) { r.Topic = "a/${cn" },
		"fail/nul":               func(r *Rule) { r.Topic = "a/\x00" },
		"fail/who empty":         func(r *Rule) { r.Who = "" },
		"fail/who cert not hex":  func(r *Rule) { r.Who = "cert:xyz" },
		"fail/who cert zero":     func(r *Rule) { r.Who = "cert:000" },
		"fail/who id short hash": func(r *Rule) { r.Who = "cert:3f/0011" },
		"fail/who id bad hash":   func(r *Rule) { r.Who = "cert:3f/00112233aabbccdz" },
		"fail/who id no serial":  func(r *Rule) { r.Who = "cert:/00112233aabbccdd" },
		"fail/who cn empty glob": func(r *Rule) { r.Who = "cn:" },
		"fail/who unknown":       func(r *Rule) { r.Who = "user:bob" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			r := good
			mutate(&r)
			if err := Validate(r); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate(%+v) = %v, want ErrInvalid", r, err)
			}
		})
	}
	if err := Validate(good); err != nil {
		t.Fatalf("good rule: %v", err)
	}
	if _, err := Compile([]Rule{good, good}, Deny); !errors.Is(err, ErrInvalid) {
		t.Fatalf("repeated id: %v", err)
	}
	if _, err := Compile(nil, "maybe"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad default: %v", err)
	}
}

func TestOpenToAll(t *testing.T) {
	tests := map[string]struct {
		def   string
		rules []Rule
		want  bool
	}{
		"ok/starter is closed":   {Deny, starter, false},
		"fail/default allow":     {Allow, nil, true},
		"fail/allow any hash":    {Deny, []Rule{{ID: "x", Effect: Allow, Action: ActionPubSub, Topic: "#", Who: WhoAny}}, true},
		"ok/hash for one reader": {Deny, []Rule{{ID: "x", Effect: Allow, Action: ActionPubSub, Topic: "#", Who: "cn:backend"}}, false},
		"fail/allow cn star":     {Deny, []Rule{{ID: "x", Effect: Allow, Action: ActionPubSub, Topic: "#", Who: "cn:*"}}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := compile(t, tc.def, tc.rules...).OpenToAll(); got != tc.want {
				t.Fatalf("OpenToAll = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGrants(t *testing.T) {
	p := compile(t, Deny, append(starter, Rule{ID: "r3", Effect: Allow, Action: ActionSubscribe, Topic: "kp1/#", Who: "cn:backend-*"})...)
	got := p.Session(dev1).Grants()
	want := []Grant{
		{Rule: "r1", Effect: Allow, Action: ActionPubSub, Topic: "kp1/+/+/dev1/#"},
		{Rule: "r2", Effect: Allow, Action: ActionPubSub, Topic: "devices/dev1/#"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Grants = %v, want %v", got, want)
	}
}

func TestGlob(t *testing.T) {
	tests := map[string]struct {
		pattern, name string
		want          bool
	}{
		"ok/star":           {"backend-*", "backend-eu", true},
		"ok/star empty":     {"backend-*", "backend-", true},
		"ok/question":       {"dev?", "dev1", true},
		"ok/slash ordinary": {"a*", "a/b", true},
		"ok/inner star":     {"a*c", "abbbc", true},
		"fail/prefix":       {"backend-*", "frontend-eu", false},
		"fail/question one": {"dev?", "dev", false},
		"fail/literal":      {"dev1", "dev10", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := glob(tc.pattern, tc.name); got != tc.want {
				t.Fatalf("glob(%q, %q) = %v", tc.pattern, tc.name, got)
			}
		})
	}
}

// FuzzFilter checks that no filter or topic panics the parser or the
// matchers, and that the checks agree with each other: a rule covering a
// filter intersects it, a filter without wildcards is covered exactly when
// the rule matches it as a topic, and a rule matches what it covers.
func FuzzFilter(f *testing.F) {
	for _, s := range [][2]string{{"kp1/+/+/${cn}/#", "kp1/a/b/dev1/x"}, {"#", "$SYS/x"}, {"a/+", "a/"}, {"+/#", "/"}, {"${client_id}", "+"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, ruleTopic, clientFilter string) {
		p, err := Compile([]Rule{{ID: "r", Effect: Allow, Action: ActionPubSub, Topic: ruleTopic, Who: WhoAny}}, Deny)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		s := p.Session(Identity{Serial: "1", CN: "dev1", ClientID: "c1"})
		r := s.sub[0].levels
		fl, ok := parseClientFilter(clientFilter)
		if !ok {
			if okSub, _ := s.Subscribe(clientFilter); okSub {
				t.Fatalf("invalid filter %q granted", clientFilter)
			}
			return
		}
		if covers(r, fl) && !intersects(r, fl) {
			t.Fatalf("%q covers %q but does not intersect it", ruleTopic, clientFilter)
		}
		if intersects(r, fl) != intersects(fl, r) {
			t.Fatalf("intersects not symmetric for %q, %q", ruleTopic, clientFilter)
		}
		if strings.HasPrefix(clientFilter, "$share/") || strings.ContainsAny(clientFilter, "+#") {
			return
		}
		if m := matchTopic(r, clientFilter); m != covers(r, fl) || m != intersects(r, fl) {
			t.Fatalf("topic %q vs rule %q: match %v, covers %v, intersects %v", clientFilter, ruleTopic, m, covers(r, fl), intersects(r, fl))
		}
		m := matchTopic(r, clientFilter)
		pubOK, _ := s.Publish(clientFilter)
		subOK, _ := s.Subscribe(clientFilter)
		if pubOK != m {
			t.Fatalf("topic %q vs rule %q: trie says %v, matcher %v", clientFilter, ruleTopic, pubOK, m)
		}
		if pubOK != subOK {
			t.Fatalf("topic %q: publish %v, subscribe %v under one pubsub rule", clientFilter, pubOK, subOK)
		}
	})
}

// matchTopic is the plain, rule-by-rule matcher the fuzz target checks the
// trie and the filter relations against.
func matchTopic(ls []level, t string) bool {
	dollar := len(t) > 0 && t[0] == '$'
	done := false // t's last level was consumed
	for i, l := range ls {
		if l.kind == levelHash {
			return !(i == 0 && dollar)
		}
		if done {
			return false
		}
		seg := t
		if j := strings.IndexByte(t, '/'); j >= 0 {
			seg, t = t[:j], t[j+1:]
		} else {
			done = true
		}
		switch l.kind {
		case levelPlus:
			if i == 0 && dollar {
				return false
			}
		case levelLit:
			if l.text != seg {
				return false
			}
		default:
			return false
		}
	}
	return done
}

// FuzzRule checks that rule parsing never panics, that Validate and Compile
// agree, and that a valid rule compiles for every kind of identity.
func FuzzRule(f *testing.F) {
	f.Add("allow", "pubsub", "kp1/+/+/${cn}/#", "any", "dev1")
	f.Add("deny", "publish", "a/${client_id}", "cn:back*", "back-1")
	f.Add("allow", "subscribe", "$SYS/#", "cert:00ff", "+")
	f.Fuzz(func(t *testing.T, effect, action, topic, who, name string) {
		r := Rule{ID: "r", Effect: effect, Action: action, Topic: topic, Who: who}
		verr := Validate(r)
		p, cerr := Compile([]Rule{r}, Deny)
		if (verr == nil) != (cerr == nil) {
			t.Fatalf("Validate %v, Compile %v", verr, cerr)
		}
		if cerr != nil {
			return
		}
		for _, id := range []Identity{{Anonymous: true, ClientID: name}, {Serial: "ff", CN: name, Issuer: name, ClientID: name}} {
			s := p.Session(id)
			if g := s.Grants(); len(g) > 1 {
				t.Fatalf("one rule, %d grants", len(g))
			}
			s.Publish(name)
			s.Subscribe(name)
			s.Receive(name)
		}
	})
}
