package store

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// The policy bucket holds the authorization policy: the ordered rules as one
// JSON list (a change rewrites it whole, in one transaction, so the order is
// never half-changed) and the default decision. Rule IDs come from the
// bucket's sequence: "r" + a number never reused.
var (
	bucketPolicy     = []byte("policy")
	keyPolicyRules   = []byte("rules")
	keyPolicyDefault = []byte("default")
	errPolicyMissing = fmt.Errorf("%w: policy bucket missing", ErrCorrupt)
)

// Rule is one authorization rule as stored. The store keeps rules in order
// and assigns IDs; the caller validates the fields (package broker/policy,
// whose Rule has the same fields, so callers convert with policy.Rule(r)).
type Rule struct {
	ID     string `json:"id"`
	Effect string `json:"effect"` // allow | deny
	Action string `json:"action"` // publish | subscribe | pubsub
	Topic  string `json:"topic"`  // MQTT filter with ${cn}, ${client_id}, ${serial}
	Who    string `json:"who"`    // any | anonymous | cert:ID (cert:SERIAL in older rules) | cn:GLOB | ca:NAME
}

// Policy is the stored authorization policy.
type Policy struct {
	Default string `json:"default"` // allow | deny: the decision when no rule applies
	Rules   []Rule `json:"rules"`
}

// StarterPolicy is what a new store, or one upgraded from schema 1, starts
// with: default deny, and each certified device may publish and subscribe
// under its own common name in the Kaa layout and under devices/.
func StarterPolicy() Policy {
	return Policy{Default: "deny", Rules: []Rule{
		{ID: "r1", Effect: "allow", Action: "pubsub", Topic: "kp1/+/+/${cn}/#", Who: "any"},
		{ID: "r2", Effect: "allow", Action: "pubsub", Topic: "devices/${cn}/#", Who: "any"},
	}}
}

// migratePolicy (schema 2) creates the policy bucket with the starter policy.
func migratePolicy(t txn) error {
	p := StarterPolicy()
	if err := t.setSequence(bucketPolicy, uint64(len(p.Rules))); err != nil {
		return err
	}
	return writePolicy(t, p)
}

// readPolicy reads the policy; a store without one (its default is always
// written) is damaged.
func readPolicy(t txn) (Policy, error) {
	def, err := t.get(bucketPolicy, keyPolicyDefault)
	if err != nil {
		return Policy{}, err
	}
	rules, err := t.get(bucketPolicy, keyPolicyRules)
	if err != nil {
		return Policy{}, err
	}
	if def == nil && rules == nil {
		return Policy{}, errPolicyMissing
	}
	p := Policy{Default: string(def)}
	if rules != nil {
		if err := json.Unmarshal(rules, &p.Rules); err != nil {
			return Policy{}, fmt.Errorf("decode rules: %w", err)
		}
	}
	return p, nil
}

func writePolicy(t txn, p Policy) error {
	if p.Rules == nil {
		p.Rules = []Rule{}
	}
	if err := putJSON(t, bucketPolicy, keyPolicyRules, p.Rules); err != nil {
		return err
	}
	return t.put(bucketPolicy, keyPolicyDefault, []byte(p.Default))
}

// Policy returns the authorization policy.
func (s *Store) Policy() (Policy, error) {
	var p Policy
	err := s.view(func(t txn) error {
		var err error
		p, err = readPolicy(t)
		return err
	})
	if err != nil {
		return Policy{}, fmt.Errorf("read policy: %w", err)
	}
	return p, nil
}

// updatePolicy runs fn on the policy and a copy of audit and writes the
// result with that record, in one transaction; fn may fill in the record.
// Each attempt starts from audit as given, so that a retried transaction
// does not keep details of the attempt that lost.
func (s *Store) updatePolicy(what string, fn func(t txn, p *Policy, audit *AuditRecord) error, audit AuditRecord) (Policy, error) {
	var p Policy
	err := s.update(func(t txn) error {
		var err error
		if p, err = readPolicy(t); err != nil {
			return err
		}
		a := audit
		if err := fn(t, &p, &a); err != nil {
			return err
		}
		if err := writePolicy(t, p); err != nil {
			return err
		}
		return appendAudit(t, &a)
	})
	if err != nil {
		return Policy{}, fmt.Errorf("%s: %w", what, err)
	}
	return p, nil
}

// AddRule appends r with a fresh ID (r.ID is ignored) and returns it as
// stored, with audit in the same transaction (its Detail defaults to the rule).
func (s *Store) AddRule(r Rule, audit AuditRecord) (Rule, error) {
	_, err := s.updatePolicy("add rule", func(t txn, p *Policy, audit *AuditRecord) error {
		seq, err := t.nextSequence(bucketPolicy)
		if err != nil {
			return err
		}
		r.ID = "r" + strconv.FormatUint(seq, 10)
		p.Rules = append(p.Rules, r)
		if audit.Detail == "" {
			audit.Detail = describeRule(r)
		}
		return nil
	}, audit)
	if err != nil {
		return Rule{}, err
	}
	return r, nil
}

// RemoveRule deletes the rule id; ErrNotFound when there is none.
func (s *Store) RemoveRule(id string, audit AuditRecord) (Rule, error) {
	var gone Rule
	_, err := s.updatePolicy("remove rule "+id, func(_ txn, p *Policy, audit *AuditRecord) error {
		i := ruleIndex(p.Rules, id)
		if i < 0 {
			return ErrNotFound
		}
		gone = p.Rules[i]
		p.Rules = append(p.Rules[:i], p.Rules[i+1:]...)
		if audit.Detail == "" {
			audit.Detail = describeRule(gone)
		}
		return nil
	}, audit)
	return gone, err
}

// MoveRule puts rule id just before rule before; ErrNotFound when either is
// missing. Moving a rule before itself changes nothing.
func (s *Store) MoveRule(id, before string, audit AuditRecord) (Policy, error) {
	return s.updatePolicy("move rule "+id, func(_ txn, p *Policy, audit *AuditRecord) error {
		i, j := ruleIndex(p.Rules, id), ruleIndex(p.Rules, before)
		if i < 0 || j < 0 {
			return fmt.Errorf("rule %s or %s: %w", id, before, ErrNotFound)
		}
		r := p.Rules[i]
		rest := append(p.Rules[:i:i], p.Rules[i+1:]...)
		j = ruleIndex(rest, before)
		if j < 0 { // id == before
			j = i
		}
		p.Rules = append(rest[:j:j], append([]Rule{r}, rest[j:]...)...)
		if audit.Detail == "" {
			audit.Detail = id + " before " + before
		}
		return nil
	}, audit)
}

// SetPolicyDefault sets the default decision ("allow" or "deny", checked by
// the caller).
func (s *Store) SetPolicyDefault(effect string, audit AuditRecord) (Policy, error) {
	return s.updatePolicy("set policy default", func(_ txn, p *Policy, audit *AuditRecord) error {
		if audit.Detail == "" {
			audit.Detail = p.Default + " -> " + effect
		}
		p.Default = effect
		return nil
	}, audit)
}

func ruleIndex(rules []Rule, id string) int {
	for i, r := range rules {
		if r.ID == id {
			return i
		}
	}
	return -1
}

// describeRule is a rule in one line, as audit details and listings show it.
func describeRule(r Rule) string {
	return r.ID + ": " + r.Effect + " " + r.Action + " " + r.Topic + " who " + r.Who
}
