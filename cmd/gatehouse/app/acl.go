package app

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/broker/policy"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// PolicyTest asks what the policy decides for one client and topic. Exactly
// one of Cert (a unique CN, serial, serial prefix or certificate ID), CN and
// Anonymous names the client.
type PolicyTest struct {
	Cert      string `json:"cert,omitempty"`
	CN        string `json:"cn,omitempty"`
	Subject   string `json:"sub,omitempty"` // a client with a token alone
	Anonymous bool   `json:"anonymous,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Action    string `json:"action"` // publish | subscribe
	Topic     string `json:"topic"`
}

// PolicyDecision is the answer to a PolicyTest. Its JSON is a command-line
// contract (acl test --json).
type PolicyDecision struct {
	Decision string `json:"decision"` // allow | deny
	Rule     string `json:"rule"`     // the deciding rule's ID, or "default"
	Action   string `json:"action"`
	Topic    string `json:"topic"`
	Explain  string `json:"explain"` // the deciding rule in one line
}

// toPolicy converts the stored policy into the broker's engine form, its
// ca:NAME rules resolved to the CAs so named now (see policyIssuers).
func (a *App) toPolicy(p store.Policy) (*policy.Policy, error) {
	rules := make([]policy.Rule, len(p.Rules))
	for i, r := range p.Rules {
		rules[i] = policy.Rule(r) // the same fields: the store keeps what the engine reads
	}
	c, err := policy.Compile(rules, p.Default)
	if err != nil {
		return nil, fmt.Errorf("stored policy: %w", err)
	}
	cas, err := a.ca.CAs()
	if err != nil {
		return nil, fmt.Errorf("resolve ca: rules: %w", err)
	}
	iss, err := policyIssuers(cas)
	if err != nil {
		return nil, fmt.Errorf("resolve ca: rules: %w", err)
	}
	return c.WithIssuers(iss), nil
}

// policyIssuers maps each name a ca:NAME rule may give to the issuer hashes
// (the part of a certificate ID after "/") of the CAs it names, so a rule
// selects certificates by their issuer's DER name, which a foreign CA cannot
// share without being the same issuer, rather than by a common name any CA
// may choose. A name resolves in the first of these that has it:
//  1. our issuing CAs by operator name ("default" for the built-in one);
//  2. our issuing CAs by subject common name (rules written that way before);
//  3. operator-trusted CAs by subject common name or full subject.
//
// So an operator-trusted CA that copies our issuing CA's name never joins its
// rules. A ca: rule whose name no CA has selects nobody.
func policyIssuers(cas []store.CA) (policy.Issuers, error) {
	tiers := [3]policy.Issuers{{}, {}, {}}
	for _, ca := range cas {
		if ca.Role != store.RoleIssuing && ca.Role != store.RoleTrusted {
			continue
		}
		block, _ := pem.Decode([]byte(ca.CertPEM))
		if block == nil {
			return nil, fmt.Errorf("CA %s: no PEM certificate", ca.ID)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CA %s: %w", ca.ID, err)
		}
		hash := strings.TrimPrefix(store.CertID("", cert.RawSubject), "/")
		if ca.Role == store.RoleIssuing {
			name := ca.Name
			if name == "" {
				name = pki.DefaultIssuer
			}
			tiers[0][name] = append(tiers[0][name], hash)
			tiers[1][cert.Subject.CommonName] = append(tiers[1][cert.Subject.CommonName], hash)
			continue
		}
		tiers[2][cert.Subject.CommonName] = append(tiers[2][cert.Subject.CommonName], hash)
		if ca.Subject != cert.Subject.CommonName {
			tiers[2][ca.Subject] = append(tiers[2][ca.Subject], hash)
		}
	}
	out := policy.Issuers{}
	for _, tier := range tiers {
		for name, hashes := range tier {
			if _, taken := out[name]; !taken && name != "" {
				out[name] = hashes
			}
		}
	}
	return out, nil
}

// compiledPolicy reads and compiles the stored policy.
func (a *App) compiledPolicy() (*policy.Policy, error) {
	p, err := a.st.Policy()
	if err != nil {
		return nil, err
	}
	return a.toPolicy(p)
}

// applyPolicy hands the stored policy to the running broker, whose sessions
// pick it up at their next check. Called with aclMu held after each change,
// so the broker's policy is always the latest stored one.
func (a *App) applyPolicy(p store.Policy) error {
	br := a.broker()
	if br == nil {
		return nil
	}
	c, err := a.toPolicy(p)
	if err != nil {
		return err
	}
	br.SetPolicy(c)
	return nil
}

// refreshPolicy hands the broker the policy compiled again after a change
// to the CAs, which ca:NAME rules are resolved to. The CA change is done by
// then, so a failure is logged: the broker keeps the previous policy, whose
// ca: rules name no CA added since.
func (a *App) refreshPolicy() {
	if err := a.policyChange(func() error { return nil }); err != nil {
		a.log.Error("apply the policy after a CA change", "err", err)
	}
}

// Policy implements Service.
func (a *App) Policy(context.Context) (store.Policy, error) { return a.st.Policy() }

// policyChange runs a store change and applies its result to the broker.
func (a *App) policyChange(change func() error) error {
	a.aclMu.Lock()
	defer a.aclMu.Unlock()
	if err := change(); err != nil {
		return err
	}
	p, err := a.st.Policy()
	if err != nil {
		return err
	}
	return a.applyPolicy(p)
}

// AddRule implements Service: the rule is validated, stored with a new ID
// and an audit record, and applied to live sessions.
func (a *App) AddRule(ctx context.Context, r store.Rule) (store.Rule, error) {
	if r.Who == "" {
		r.Who = policy.WhoAny
	}
	if ref, ok := strings.CutPrefix(r.Who, "cert:"); ok && ref != "" {
		// A certificate is named as everywhere (a unique CN, serial, serial
		// prefix or ID); the rule stores its ID, so another CA's certificate
		// with the same serial is not selected.
		id, err := a.ResolveSerial(ctx, ref)
		if err != nil {
			return store.Rule{}, fmt.Errorf("rule for certificate %s: %w", ref, err)
		}
		r.Who = "cert:" + id
	}
	if err := policy.Validate(policy.Rule{Effect: r.Effect, Action: r.Action, Topic: r.Topic, Who: r.Who}); err != nil {
		return store.Rule{}, usageError(err)
	}
	var added store.Rule
	err := a.policyChange(func() (err error) {
		added, err = a.st.AddRule(r, a.audit(ctx, "acl.add"))
		return err
	})
	return added, err
}

// RemoveRule implements Service.
func (a *App) RemoveRule(ctx context.Context, id string) (store.Rule, error) {
	var gone store.Rule
	err := a.policyChange(func() (err error) {
		gone, err = a.st.RemoveRule(id, a.audit(ctx, "acl.remove"))
		return err
	})
	return gone, err
}

// MoveRule implements Service: rule id goes just before rule before.
func (a *App) MoveRule(ctx context.Context, id, before string) error {
	return a.policyChange(func() error {
		_, err := a.st.MoveRule(id, before, a.audit(ctx, "acl.move"))
		return err
	})
}

// SetPolicyDefault implements Service: the decision when no rule applies.
func (a *App) SetPolicyDefault(ctx context.Context, effect string) error {
	if effect != policy.Allow && effect != policy.Deny {
		return usageError(fmt.Errorf("default %q: want allow or deny", effect))
	}
	return a.policyChange(func() error {
		_, err := a.st.SetPolicyDefault(effect, a.audit(ctx, "acl.default"))
		return err
	})
}

func (a *App) audit(ctx context.Context, action string) store.AuditRecord {
	return store.AuditRecord{At: a.now(), Actor: a.actorOf(ctx), Action: action}
}

// TestPolicy implements Service: the decision the broker would make now.
func (a *App) TestPolicy(ctx context.Context, q PolicyTest) (PolicyDecision, error) {
	named := 0
	for _, set := range []bool{q.Cert != "", q.CN != "", q.Subject != "", q.Anonymous} {
		if set {
			named++
		}
	}
	if named != 1 {
		return PolicyDecision{}, usageError(errors.New("name the client with exactly one of --cert SERIAL, --cn CN, --sub SUB or --anonymous"))
	}
	if err := policy.ValidFilter(q.Topic); err != nil {
		return PolicyDecision{}, usageError(err)
	}
	id := policy.Identity{Anonymous: q.Anonymous, CN: q.CN, ClientID: q.ClientID, Subject: q.Subject}
	if q.Cert != "" {
		certID, err := a.ResolveSerial(ctx, q.Cert)
		if err != nil {
			return PolicyDecision{}, fmt.Errorf("certificate %s: %w", q.Cert, err)
		}
		c, err := a.st.GetCert(certID)
		if err != nil {
			return PolicyDecision{}, fmt.Errorf("certificate %s: %w", q.Cert, err)
		}
		id.Serial, id.CertID, id.CN, id.Issuer = c.Serial, c.ID, c.CN, c.Issuer
	}
	stored, err := a.st.Policy()
	if err != nil {
		return PolicyDecision{}, err
	}
	p, err := a.toPolicy(stored)
	if err != nil {
		return PolicyDecision{}, err
	}
	s := p.Session(id)
	var ok bool
	var rule string
	switch q.Action {
	case policy.ActionPublish:
		if strings.ContainsAny(q.Topic, "+#") {
			return PolicyDecision{}, usageError(fmt.Errorf("publish topic %q holds a wildcard", q.Topic))
		}
		ok, rule = s.Publish(q.Topic)
	case policy.ActionSubscribe:
		ok, rule = s.Subscribe(q.Topic)
	default:
		return PolicyDecision{}, usageError(fmt.Errorf("action %q: want publish or subscribe", q.Action))
	}
	d := PolicyDecision{Decision: policy.Deny, Rule: rule, Action: q.Action, Topic: q.Topic, Explain: "no rule applies: default " + stored.Default}
	if ok {
		d.Decision = policy.Allow
	}
	for _, r := range stored.Rules {
		if r.ID == rule {
			d.Explain = r.Effect + " " + r.Action + " " + r.Topic + " for " + r.Who
		}
	}
	return d, nil
}

// certRights lists what the policy lets certificate c do, its variables
// filled for its CN and serial; ${client_id} stays as written, since it
// depends on each connection.
func (a *App) certRights(c store.Cert) ([]policy.Grant, error) {
	p, err := a.compiledPolicy()
	if err != nil {
		return nil, err
	}
	return p.Session(policy.Identity{Serial: c.Serial, CertID: c.ID, CN: c.CN, Issuer: c.Issuer, ClientID: "${client_id}"}).Grants(), nil
}

// denials is how many publishes and subscriptions of the certificate with
// ID id the running broker refused; 0 without a broker.
func (a *App) denials(id string) uint64 {
	if br := a.broker(); br != nil {
		return br.Denials(id)
	}
	return 0
}
