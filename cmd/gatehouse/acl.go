package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/broker/policy"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

func newACL(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "acl list|add|remove|move|default|test",
		Short: "Authorization: which client may publish and subscribe to which topics",
		Long: `The authorization policy is an ordered list of rules. A rule allows or denies
publish, subscribe or both (pubsub) on an MQTT topic filter, which may hold
${cn}, ${client_id}, ${serial} and ${sub} (a token's subject), for the clients
its --who selects: any (every client with a verified certificate or token),
anonymous (clients with neither), sub:GLOB (token subjects),
cert:CERT (one certificate: give its CN, serial, serial prefix or ID; the rule
stores its ID, SERIAL/ISSUERHASH, so another CA's certificate with the same
serial is not selected), cn:GLOB or ca:NAME (the certificates of one CA: our
issuing CA's name, "default" for the built-in one, or an operator-trusted CA's
common name or subject; a CA that copies our CA's name is not selected). Deny
wins; when no rule applies the default decides. Changes apply at once to
connected clients, including to messages for subscriptions they already hold
and to their wills.`,
		Example: `  gatehouse acl list
  gatehouse acl add --allow --action subscribe --topic 'kp1/#' --who 'cn:backend-*'
  gatehouse acl test --cn dev1 --action publish --topic kp1/demo-v1/dcx/dev1/json`,
		Args: cobra.NoArgs,
		RunE: needsSubcommand,
	}
	c.AddCommand(newACLList(g), newACLAdd(g), newACLRemove(g), newACLMove(g), newACLDefault(g), newACLTest(g))
	return c
}

func newACLList(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the rules in order, and the default decision",
		Example: "  gatehouse acl list --json",
		Args:    cobra.NoArgs,
		RunE: g.withReader(func(cmd *cobra.Command, svc app.Service, _ []string) error {
			p, err := svc.Policy(cmd.Context())
			if err != nil {
				return err
			}
			return g.printPolicy(p)
		}),
	}
}

// printPolicy prints the policy as JSON, or as a table and its default.
func (g *globals) printPolicy(p store.Policy) error {
	if g.json {
		if p.Rules == nil {
			p.Rules = []store.Rule{}
		}
		return g.printJSON(p)
	}
	rows := make([][]string, len(p.Rules))
	for i, r := range p.Rules {
		rows[i] = []string{r.ID, r.Effect, r.Action, r.Topic, r.Who}
	}
	if err := g.table([]string{"ID", "EFFECT", "ACTION", "TOPIC", "WHO"}, rows); err != nil {
		return err
	}
	_, err := fmt.Fprintf(g.stdout, "default: %s (when no rule applies)\n", p.Default)
	return err
}

func newACLAdd(g *globals) *cobra.Command {
	var allow, deny bool
	var r store.Rule
	c := &cobra.Command{
		Use:   "add (--allow|--deny) --action publish|subscribe|pubsub --topic FILTER [--who SELECTOR]",
		Short: "Append a rule; prints its ID",
		Example: `  gatehouse acl add --allow --action subscribe --topic 'kp1/#' --who 'cn:backend-*'
  gatehouse acl add --allow --action subscribe --topic 'kp1/#' --who anonymous
  gatehouse acl add --allow --action publish --topic 'fleet/#' --who cert:dev1
  gatehouse acl add --allow --action subscribe --topic 'kp1/#' --who ca:default
  gatehouse acl add --deny --action publish --topic 'kp1/+/+/${cn}/config' --who any`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if allow == deny {
				return usageErr{Err: errors.New("acl add needs exactly one of --allow or --deny")}
			}
			r.Effect = policy.Deny
			if allow {
				r.Effect = policy.Allow
			}
			who := r.Who
			if strings.HasPrefix(who, "cert:") && who != "cert:" {
				who = policy.WhoAny // the service resolves the certificate to its ID
			}
			if err := policy.Validate(policy.Rule{Effect: r.Effect, Action: r.Action, Topic: r.Topic, Who: who}); err != nil {
				return usageErr{Err: err}
			}
			svc, done, err := g.service()
			if err != nil {
				return err
			}
			defer done()
			added, err := svc.AddRule(cmd.Context(), r)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(added)
			}
			_, err = fmt.Fprintln(g.stdout, added.ID)
			return err
		},
	}
	c.Flags().BoolVar(&allow, "allow", false, "the rule allows")
	c.Flags().BoolVar(&deny, "deny", false, "the rule denies (deny wins over allow)")
	c.Flags().StringVar(&r.Action, "action", "", "publish, subscribe or pubsub")
	c.Flags().StringVar(&r.Topic, "topic", "", "MQTT topic filter; may hold ${cn}, ${client_id}, ${serial}")
	c.Flags().StringVar(&r.Who, "who", policy.WhoAny, "any, anonymous, cert:CN|SERIAL|ID, cn:GLOB, ca:NAME or sub:GLOB")
	return c
}

func newACLRemove(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "remove ID",
		Short:   "Delete a rule",
		Example: "  gatehouse acl remove r3",
		Args:    cobra.ExactArgs(1),
		RunE: g.withService(func(cmd *cobra.Command, svc app.Service, args []string) error {
			gone, err := svc.RemoveRule(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(gone)
			}
			_, err = fmt.Fprintf(g.stdout, "removed %s: %s %s %s for %s\n", gone.ID, gone.Effect, gone.Action, gone.Topic, gone.Who)
			return err
		}),
	}
}

func newACLMove(g *globals) *cobra.Command {
	var before string
	c := &cobra.Command{
		Use:     "move ID --before ID2",
		Short:   "Put a rule just before another; prints the new order",
		Example: "  gatehouse acl move r3 --before r1",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if before == "" {
				return usageErr{Err: errors.New("acl move needs --before ID")}
			}
			svc, done, err := g.service()
			if err != nil {
				return err
			}
			defer done()
			if err := svc.MoveRule(cmd.Context(), args[0], before); err != nil {
				return err
			}
			p, err := svc.Policy(cmd.Context())
			if err != nil {
				return err
			}
			return g.printPolicy(p)
		},
	}
	c.Flags().StringVar(&before, "before", "", "the rule to move in front of")
	return c
}

func newACLDefault(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "default allow|deny",
		Short:   "Set the decision when no rule applies",
		Example: "  gatehouse acl default deny",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			effect := args[0]
			if effect != policy.Allow && effect != policy.Deny {
				return usageErr{Err: fmt.Errorf("acl default %q: want allow or deny", effect)}
			}
			svc, done, err := g.service()
			if err != nil {
				return err
			}
			defer done()
			if err := svc.SetPolicyDefault(cmd.Context(), effect); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]string{"default": effect})
			}
			_, err = fmt.Fprintf(g.stdout, "default: %s\n", effect)
			return err
		},
	}
}

func newACLTest(g *globals) *cobra.Command {
	var q app.PolicyTest
	c := &cobra.Command{
		Use:   "test (--cert SERIAL | --cn CN | --sub SUB | --anonymous) [--client-id ID] --action publish|subscribe --topic T",
		Short: "Say what the policy decides for a client and topic, and which rule decides",
		Example: `  gatehouse acl test --cn dev1 --action publish --topic kp1/demo-v1/dcx/dev1/json
  gatehouse acl test --cert 3f2a9c --action subscribe --topic 'kp1/#'
  gatehouse acl test --sub meter-7 --action publish --topic devices/meter-7/t
  gatehouse acl test --anonymous --action subscribe --topic 'kp1/#' --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if q.Action != policy.ActionPublish && q.Action != policy.ActionSubscribe {
				return usageErr{Err: fmt.Errorf("--action %q: want publish or subscribe", q.Action)}
			}
			if err := policy.ValidFilter(q.Topic); err != nil {
				return usageErr{Err: err}
			}
			svc, done, err := g.serviceFor(app.AccessReadOnly)
			if err != nil {
				return err
			}
			defer done()
			d, err := svc.TestPolicy(cmd.Context(), q)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(d)
			}
			_, err = fmt.Fprintf(g.stdout, "%s: %s %s, rule %s (%s)\n", d.Decision, d.Action, d.Topic, d.Rule, d.Explain)
			return err
		},
	}
	c.Flags().StringVar(&q.Cert, "cert", "", "a certificate in the store: its CN, serial, serial prefix or ID")
	c.Flags().StringVar(&q.CN, "cn", "", "a certificate common name")
	c.Flags().StringVar(&q.Subject, "sub", "", "a client with a token (JWT) of this subject and no certificate")
	c.Flags().BoolVar(&q.Anonymous, "anonymous", false, "a client without a certificate or token")
	c.Flags().StringVar(&q.ClientID, "client-id", "", "the MQTT client ID, for ${client_id} rules")
	c.Flags().StringVar(&q.Action, "action", "", "publish or subscribe")
	c.Flags().StringVar(&q.Topic, "topic", "", "the topic (publish) or filter (subscribe)")
	return c
}
