// Package policy is Gatehouse's authorization engine: an ordered list of
// rules that allow or deny publishing and subscribing on MQTT topic filters,
// for clients selected by certificate, common name, issuing CA or the absence
// of a certificate.
//
// Certificates are selected by ID (cert:SERIAL/ISSUERHASH, as the store names
// them) and issuing CAs by the hash of their DER subject (ca:NAME, resolved
// to hashes with WithIssuers), never by a name string a foreign CA could
// copy into its own subject.
//
// A Policy is compiled once from the stored rules and is immutable, so the
// broker swaps it with an atomic pointer. Each session compiles its own view
// (Policy.Session) once, at CONNECT: its common name, client ID and serial
// are fixed, so the variables ${cn}, ${client_id}, ${serial} and ${sub} are
// substituted then and the checks on the publish path only compare levels,
// without allocating.
//
// Decisions: every rule that applies is considered and deny wins; the first
// matching allow rule (in list order) decides otherwise; when no rule applies
// the default decides. A subscription is granted only when a single allow
// rule covers every topic its filter can match and no deny rule can match any
// of them. Topics beginning with '$' (such as $SYS) are never matched by a
// filter whose first level is a wildcard (MQTT-4.7.2-1), so only an explicit
// rule opens them.
package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Effects of a rule, and of the default decision.
const (
	Allow = "allow"
	Deny  = "deny"
)

// Action names of a rule (publish, subscribe or both) and of a check.
const (
	ActionPublish   = "publish"
	ActionSubscribe = "subscribe"
	ActionPubSub    = "pubsub"
)

// Selector forms, as in "cert:3f2a9c" or "cn:backend-*".
const (
	WhoAny       = "any"       // every client with a verified certificate or token
	WhoAnonymous = "anonymous" // clients with neither
	whoCert      = "cert:"
	whoCN        = "cn:"
	whoCA        = "ca:"
	whoSub       = "sub:" // token subjects, by glob
)

// DefaultRule names the default decision where a rule ID would be.
const DefaultRule = "default"

// maxFilter is MQTT's longest topic (a two-byte length).
const maxFilter = 65535

// ErrInvalid is wrapped by every error about a malformed rule or check.
var ErrInvalid = errors.New("invalid rule")

// Rule is one stored rule, as the operator wrote it.
type Rule struct {
	ID     string `json:"id"`
	Effect string `json:"effect"` // allow | deny
	Action string `json:"action"` // publish | subscribe | pubsub
	Topic  string `json:"topic"`  // an MQTT filter, may hold ${cn}, ${client_id}, ${serial}, ${sub}
	Who    string `json:"who"`    // any | anonymous | cert:ID | cert:SERIAL | cn:GLOB | ca:NAME | sub:GLOB
}

// Identity is who a session is. Anonymous sessions have neither a
// certificate nor a token, and so no serial, ID, CN, issuer or subject; a
// session with a token alone has a Subject and no certificate fields.
type Identity struct {
	Anonymous bool
	Serial    string // lowercase hex, as the broker derives it
	// CertID is the certificate's ID: its serial, "/", and the issuer hash,
	// the first 16 hex digits of the SHA-256 of the issuer's DER name
	// (store.CertID). cert:ID and ca:NAME rules match it.
	CertID string
	CN     string
	// Issuer is the issuing CA's common name. No selector reads it: a CA
	// chooses its own CN, so ca:NAME matches CertID's issuer hash instead.
	Issuer   string
	ClientID string
	// Subject is the sub claim of the session's token; empty without one.
	Subject string
}

// Issuers maps the NAME of ca:NAME rules to the issuer hashes (the part of a
// certificate ID after "/") of the CAs so named.
type Issuers map[string][]string

// actions is a bit set of the actions a rule covers.
type actions uint8

const (
	actPublish actions = 1 << iota
	actSubscribe
)

// rule is a validated Rule.
type rule struct {
	src     Rule
	allow   bool
	actions actions
	who     selector
	levels  []tmplLevel
}

// Policy is a compiled, immutable rule set. The zero value is not usable:
// build one with Compile.
type Policy struct {
	rules        []rule
	defaultAllow bool
	issuers      Issuers
}

// Compile validates rules and the default effect into a Policy. Rule IDs must
// be unique and non-empty.
func Compile(rules []Rule, defaultEffect string) (*Policy, error) {
	p := &Policy{rules: make([]rule, 0, len(rules))}
	switch defaultEffect {
	case Allow:
		p.defaultAllow = true
	case Deny:
	default:
		return nil, fmt.Errorf("%w: default %q: want allow or deny", ErrInvalid, defaultEffect)
	}
	seen := make(map[string]bool, len(rules))
	for _, r := range rules {
		if r.ID == "" || seen[r.ID] {
			return nil, fmt.Errorf("%w: rule id %q is empty or repeated", ErrInvalid, r.ID)
		}
		seen[r.ID] = true
		c, err := parseRule(r)
		if err != nil {
			return nil, err
		}
		p.rules = append(p.rules, c)
	}
	return p, nil
}

// WithIssuers returns a copy of p whose ca:NAME rules select the
// certificates issued by the CAs iss names NAME; a ca: rule whose NAME iss
// lacks selects nobody. A Policy never given issuers matches no ca: rule.
func (p *Policy) WithIssuers(iss Issuers) *Policy {
	c := *p
	c.issuers = iss
	return &c
}

// Validate checks a rule's effect, action, topic filter and selector; the ID
// is not checked (the store assigns it).
func Validate(r Rule) error {
	_, err := parseRule(r)
	return err
}

// DefaultAllow reports whether the default decision allows.
func (p *Policy) DefaultAllow() bool { return p.defaultAllow }

// Rules returns the rules in order.
func (p *Policy) Rules() []Rule {
	out := make([]Rule, len(p.rules))
	for i, r := range p.rules {
		out[i] = r.src
	}
	return out
}

// OpenToAll reports whether every certified device may publish and subscribe
// on every (non-$) topic: the default allows, or an allow rule for any with
// the filter "#" and both actions exists (cn:* counts as any). Operators are warned about it.
func (p *Policy) OpenToAll() bool {
	if p.defaultAllow {
		return true
	}
	for _, r := range p.rules {
		everyone := r.who.kind == selAny || (r.who.kind == selCN && strings.Trim(r.who.arg, "*") == "")
		if r.allow && r.actions == actPublish|actSubscribe && everyone &&
			len(r.levels) == 1 && r.levels[0].kind == levelHash {
			return true
		}
	}
	return false
}

func parseRule(r Rule) (rule, error) {
	c := rule{src: r}
	switch r.Effect {
	case Allow:
		c.allow = true
	case Deny:
	default:
		return c, fmt.Errorf("%w: effect %q: want allow or deny", ErrInvalid, r.Effect)
	}
	var err error
	if c.actions, err = parseActions(r.Action); err != nil {
		return c, err
	}
	if c.who, err = parseSelector(r.Who); err != nil {
		return c, err
	}
	if c.levels, err = parseTemplate(r.Topic); err != nil {
		return c, err
	}
	return c, nil
}

func parseActions(s string) (actions, error) {
	switch s {
	case ActionPublish:
		return actPublish, nil
	case ActionSubscribe:
		return actSubscribe, nil
	case ActionPubSub:
		return actPublish | actSubscribe, nil
	}
	return 0, fmt.Errorf("%w: action %q: want publish, subscribe or pubsub", ErrInvalid, s)
}

// selector kinds.
const (
	selAny = iota
	selAnonymous
	selCert   // by certificate ID
	selSerial // by serial alone: rules stored before certificate IDs
	selCN
	selCA
	selSub
)

type selector struct {
	kind int
	arg  string
}

func parseSelector(s string) (selector, error) {
	switch {
	case s == WhoAny:
		return selector{kind: selAny}, nil
	case s == WhoAnonymous:
		return selector{kind: selAnonymous}, nil
	case strings.HasPrefix(s, whoCert):
		if sel, ok := parseCert(strings.ToLower(s[len(whoCert):])); ok {
			return sel, nil
		}
	case strings.HasPrefix(s, whoCN) && len(s) > len(whoCN):
		return selector{kind: selCN, arg: s[len(whoCN):]}, nil
	case strings.HasPrefix(s, whoCA) && len(s) > len(whoCA):
		return selector{kind: selCA, arg: s[len(whoCA):]}, nil
	case strings.HasPrefix(s, whoSub) && len(s) > len(whoSub):
		return selector{kind: selSub, arg: s[len(whoSub):]}, nil
	}
	return selector{}, fmt.Errorf("%w: who %q: want any, anonymous, cert:ID (SERIAL/ISSUERHASH, hex), cert:SERIAL, cn:GLOB, ca:NAME or sub:GLOB", ErrInvalid, s)
}

// issuerHashLen is the length of a certificate ID's issuer part.
const issuerHashLen = 16

// parseCert reads a lowercase cert: argument: an ID (SERIAL/ISSUERHASH),
// matched whole, or a bare serial, the form rules were stored in before
// certificates had IDs, matched against the serial alone.
func parseCert(arg string) (selector, bool) {
	serial, hash, withIssuer := strings.Cut(arg, "/")
	if !isHex(serial) {
		return selector{}, false
	}
	if !withIssuer {
		return selector{kind: selSerial, arg: strings.TrimLeft(serial, "0")}, true
	}
	if len(hash) != issuerHashLen || strings.Trim(hash, "0123456789abcdef") != "" {
		return selector{}, false
	}
	return selector{kind: selCert, arg: arg}, true
}

func isHex(s string) bool {
	if s == "" || strings.Trim(s, "0") == "" {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// hasCert reports whether id has a certificate, to which the certificate
// selectors apply: not anonymous, and not a session with a token alone.
func (id Identity) hasCert() bool {
	return !id.Anonymous && (id.Subject == "" || id.Serial != "" || id.CertID != "")
}

// applies reports whether the selector picks id; iss resolves ca:NAME.
func (s selector) applies(id Identity, iss Issuers) bool {
	switch s.kind {
	case selAnonymous:
		return id.Anonymous
	case selAny:
		return !id.Anonymous
	case selCert:
		return id.hasCert() && id.CertID == s.arg
	case selSerial:
		return id.hasCert() && strings.TrimLeft(id.Serial, "0") == s.arg
	case selCN:
		return id.hasCert() && glob(s.arg, id.CN) // a token alone has no CN: cn:* is not any
	case selCA:
		_, hash, ok := strings.Cut(id.CertID, "/")
		return id.hasCert() && ok && slices.Contains(iss[s.arg], hash)
	case selSub:
		return id.Subject != "" && glob(s.arg, id.Subject)
	}
	return false
}

// glob matches name against pattern, where '*' stands for any run of
// characters and '?' for one. Unlike path.Match, '/' is not special: a CN is
// not a path.
func glob(pattern, name string) bool {
	px, nx := 0, 0
	star, mark := -1, 0
	for nx < len(name) {
		switch {
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == name[nx]):
			px++
			nx++
		case px < len(pattern) && pattern[px] == '*':
			star, mark = px, nx
			px++
		case star >= 0:
			px, mark = star+1, mark+1
			nx = mark
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}
