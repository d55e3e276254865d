package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/pki"
)

func newCertRenew(g *globals) *cobra.Command {
	var req app.CreateRequest
	var csrFile string
	var force bool
	c := &cobra.Command{
		Use:   "renew CN-or-SERIAL",
		Short: "Issue the successor of a certificate: same CN, new key or the device's CSR",
		Long: `Issue the successor of a certificate this CA issued, for the same CN. Without
--csr a new key is made and the files are written as 'cert create' writes
them (--out DIR, default ./<cn>/, where the old files usually are: --force
replaces them). With --csr the device keeps its key and the chain goes to
--out FILE or stdout. The old certificate keeps working until the successor
is first used; then it is revoked as superseded and its sessions drop. The
successor keeps the old lifetime unless --ttl says otherwise.`,
		Example: `  gatehouse cert renew dev1 --out ./dev1-new
  gatehouse cert renew 3f2a9c --csr dev1.csr --out dev1.crt`,
		Args:              exactArgs(1, "renew needs one CN or SERIAL"),
		ValidArgsFunction: g.completeSerials,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := pki.ParseTTL(req.TTL); err != nil && req.TTL != "" {
				return usageErr{Err: err}
			}
			var csr []byte
			if csrFile != "" {
				var err error
				if csr, err = os.ReadFile(csrFile); err != nil {
					return fmt.Errorf("read CSR: %w", err)
				}
				if req.OutDir != "" {
					if err := pki.CheckOutFile(req.OutDir, force); err != nil {
						return err
					}
				}
			}
			svc, done, err := g.service()
			if err != nil {
				return err
			}
			defer done()
			ids, err := resolve(cmd.Context(), svc, args)
			if err != nil {
				return err
			}
			if csr != nil {
				b, err := svc.RenewCert(cmd.Context(), app.RenewRequest{Serial: ids[0], TTL: req.TTL, CSRPEM: string(csr)})
				if err != nil {
					return err
				}
				return g.printChain(b, req.OutDir, "renewed as")
			}
			res, err := app.RenewFiles(cmd.Context(), svc, ids[0], req, force)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(struct {
					app.CertView
					Files []string `json:"files"`
				}{app.CertView{Cert: res.Cert}, res.Files})
			}
			fmt.Fprintln(g.stdout, res.Cert.Serial)
			printf(g.stderr, "renewed %s as %s for CN %q, valid until %s\nwrote %s\nthe old certificate works until this one is first used\n",
				res.Cert.Renews, res.Cert.Serial, res.Cert.CN, when(res.Cert.NotAfter), strings.Join(res.Files, ", "))
			return nil
		},
	}
	c.Flags().StringVar(&req.TTL, "ttl", "", "validity, e.g. 720h or 90d (default: the old certificate's lifetime)")
	c.Flags().StringVar(&csrFile, "csr", "", "sign this PEM CSR from the device instead of making a key")
	c.Flags().StringVar(&req.OutDir, "out", "", "output directory (default ./<cn>/); with --csr, the chain FILE (default stdout)")
	c.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	return c
}
