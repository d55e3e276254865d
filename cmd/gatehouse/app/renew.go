package app

import (
	"context"
	"errors"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// RenewRequest asks for the successor of a certificate: a new key made here,
// or the device's CSR (then the device keeps its key).
type RenewRequest struct {
	Serial string `json:"serial"`
	TTL    string `json:"ttl"`
	CSRPEM string `json:"csr_pem,omitempty"`
}

// RenewCert implements Service: the successor has the same CN; the old
// certificate keeps working until the successor's first use retires it.
func (a *App) RenewCert(ctx context.Context, req RenewRequest) (Bundle, error) {
	ttl, err := pki.ParseTTL(req.TTL)
	if err != nil {
		return Bundle{}, usageError(err)
	}
	var csr []byte
	if req.CSRPEM != "" {
		csr = []byte(req.CSRPEM)
	}
	id, err := a.st.ResolveSerial(req.Serial)
	if err != nil {
		return Bundle{}, err
	}
	iss, err := a.ca.Renew(id, ttl, csr, a.actorOf(ctx))
	if err != nil {
		return Bundle{}, err
	}
	return bundle(iss), nil
}

// supersede retires the certificate c renews, now that c was used, and drops
// whatever sessions the old one still holds. It runs on its own goroutine:
// certChanged may be called inside a handshake and must not block.
func (a *App) supersede(c store.Cert) {
	br := a.broker()
	live := 0
	if br != nil {
		live = br.SessionCount(c.Renews)
	}
	old, ok, err := a.ca.Supersede(c, live)
	if err != nil {
		a.log.Error("retire renewed certificate", "serial", c.Renews, "successor", c.Serial, "err", err)
		return
	}
	if ok && br != nil {
		br.DropSerial(old.ID, pki.ReasonSuperseded+" by "+c.Serial)
	}
}

// renewInBand is the broker's Config.Renew: a device asks, over MQTT, for the
// successor of the certificate it is connected with. The successor keeps the
// old lifetime, and only the SANs the old certificate has, and retires the
// old certificate on first use, as `cert renew`.
func (a *App) renewInBand(id string, csrPEM []byte) ([]byte, string, error) {
	st, err := a.st.Settings()
	if err != nil {
		return nil, "", err
	}
	if st.RenewalOff {
		return nil, "", errors.New("in-band renewal is off on this broker")
	}
	old, err := a.st.GetCert(id)
	if err != nil {
		return nil, "", err
	}
	iss, err := a.ca.RenewSelf(id, csrPEM, "device "+old.CN)
	if err != nil {
		return nil, "", err
	}
	return iss.ChainPEM, iss.Cert.ID, nil
}

// SetRenewal implements Service: switch in-band renewal on or off, audited.
func (a *App) SetRenewal(ctx context.Context, on bool) error {
	action := "renewal.on"
	if !on {
		action = "renewal.off"
	}
	_, err := a.st.UpdateSettings(func(s *store.Settings) error {
		s.RenewalOff = !on
		return nil
	}, store.AuditRecord{At: a.now(), Actor: a.actorOf(ctx), Action: action})
	return err
}
