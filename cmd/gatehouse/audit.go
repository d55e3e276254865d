package main

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

func newAudit(g *globals) *cobra.Command {
	var q store.AuditQuery
	c := &cobra.Command{
		Use:     "audit",
		Short:   "Show the audit log of admin actions, newest first",
		Example: "  gatehouse audit --limit 20\n  gatehouse audit --serial 3f2a9c --json",
		Args:    cobra.NoArgs,
		RunE: g.withReader(func(cmd *cobra.Command, svc app.Service, _ []string) error {
			if q.Serial != "" {
				s, err := resolve(cmd.Context(), svc, []string{q.Serial})
				if err != nil {
					return err
				}
				q.Serial, q.CertID = "", s[0] // resolve returns a certificate ID
			}
			recs, err := svc.Audit(cmd.Context(), q)
			if err != nil {
				return err
			}
			return printList(g, recs, []string{"SEQ", "AT", "ACTOR", "ACTION", "CN", "CHANGE", "DETAIL"}, func(r store.AuditRecord) []string {
				change := ""
				if r.From != "" || r.To != "" {
					change = string(r.From) + " -> " + string(r.To)
				}
				return []string{strconv.FormatUint(r.Seq, 10), when(r.At), r.Actor, r.Action, orDash(auditWho(r)), change, auditDetail(r)}
			})
		}),
	}
	c.Flags().StringVar(&q.Serial, "serial", "", "only records about this certificate")
	c.Flags().IntVar(&q.Limit, "limit", 0, "at most N records")
	return c
}

// auditDetail is the DETAIL column: the operator's reason, then what the
// action did, set apart so neither reads as part of the other.
func auditDetail(r store.AuditRecord) string {
	if r.Reason != "" && r.Detail != "" {
		return r.Reason + "; " + r.Detail
	}
	return r.Reason + r.Detail
}

// auditWho is the CN column: the certificate's CN, or a token subject as
// sub:NAME.
func auditWho(r store.AuditRecord) string {
	if r.CN == "" && r.Subject != "" {
		return "sub:" + r.Subject
	}
	return r.CN
}
