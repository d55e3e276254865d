package policy

import (
	"fmt"
	"testing"
)

// benchSession is a session under 100 rules, the allowing one last.
func benchSession(b *testing.B) *Session {
	rules := make([]Rule, 0, 100)
	for i := range 98 {
		rules = append(rules, Rule{ID: fmt.Sprint("x", i), Effect: Allow, Action: ActionPubSub, Topic: fmt.Sprintf("kp1/app%d/+/${cn}/#", i), Who: WhoAny})
	}
	rules = append(rules,
		Rule{ID: "deny", Effect: Deny, Action: ActionPublish, Topic: "kp1/+/+/${cn}/secret", Who: WhoAny},
		Rule{ID: "r1", Effect: Allow, Action: ActionPubSub, Topic: "kp1/+/+/${cn}/#", Who: WhoAny})
	return compile(b, Deny, rules...).Session(dev1)
}

// BenchmarkPolicyPublish is the publish check with 100 rules, all of which
// apply to the session.
func BenchmarkPolicyPublish(b *testing.B) {
	s := benchSession(b)
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := s.Publish("kp1/demo-v1/dcx/dev1/json"); !ok {
			b.Fatal("denied")
		}
	}
}

// BenchmarkPolicyReceive is the delivery check with 100 rules.
func BenchmarkPolicyReceive(b *testing.B) {
	s := benchSession(b)
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := s.Receive("kp1/demo-v1/dcx/dev1/json"); !ok {
			b.Fatal("denied")
		}
	}
}
