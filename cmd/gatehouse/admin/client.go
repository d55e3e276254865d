package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// Client implements app.Service against a daemon's admin socket.
type Client struct {
	path  string
	label string // sent as the client kind, e.g. "tui", to name the audit actor
	http  *http.Client
}

var _ app.Service = (*Client)(nil)

// Dial returns a client for the daemon serving dataDir, or an error when
// none answers. label names the kind of client in the audit log ("cli", "tui").
func Dial(dataDir, label string) (*Client, error) {
	path := filepath.Join(dataDir, SocketName)
	c := &Client{path: path, label: label, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.status(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Alive reports whether a daemon answers on dataDir's admin socket.
func Alive(dataDir string) bool {
	conn, err := net.DialTimeout("unix", filepath.Join(dataDir, SocketName), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// do sends a request and decodes a JSON reply into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("read reply to %s %s: %w", method, path, err)
	}
	return nil
}

// send performs a request and turns error replies into remote errors.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://gatehouse"+path, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set(clientHeader, c.label)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", c.path, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e errorReply
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error == "" {
			return nil, fmt.Errorf("admin socket %s: %s %s: %s", c.path, method, path, resp.Status)
		}
		return nil, &remoteError{msg: e.Error, code: e.Code}
	}
	return resp, nil
}

func (c *Client) status(ctx context.Context) (statusReply, error) {
	var s statusReply
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// Describe implements app.Service.
func (c *Client) Describe() string { return "daemon at " + c.path }

// Snapshot implements app.Service.
func (c *Client) Snapshot(ctx context.Context) (app.Snapshot, error) {
	var s app.Snapshot
	err := c.do(ctx, http.MethodGet, "/v1/snapshot", nil, &s)
	return s, err
}

// Subscribe implements app.Service by following the daemon's event stream.
func (c *Client) Subscribe(ctx context.Context) (<-chan broker.Event, error) {
	resp, err := c.send(ctx, http.MethodGet, "/v1/events?follow=1", nil)
	if err != nil {
		return nil, err
	}
	ch := make(chan broker.Event, 256)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var e broker.Event
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				continue
			}
			select {
			case ch <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// CreateCert implements app.Service; the key travels once over the socket and
// is written here, next to the operator, never on the daemon's side.
func (c *Client) CreateCert(ctx context.Context, req app.CreateRequest) (app.CreateResult, error) {
	return app.CreateFiles(ctx, c, req, false)
}

// Transition implements app.Service.
func (c *Client) Transition(ctx context.Context, serial string, to store.State, reason string) (app.TransitionResult, error) {
	var r app.TransitionResult
	err := c.do(ctx, http.MethodPost, "/v1/certs/"+url.PathEscape(serial)+"/transition", transitionRequest{To: to, Reason: reason}, &r)
	return r, err
}

// PurgeRetained implements app.Service.
func (c *Client) PurgeRetained(ctx context.Context, serial string) (int, error) {
	var r purgeReply
	err := c.do(ctx, http.MethodPost, "/v1/certs/"+url.PathEscape(serial)+"/purge-retained", struct{}{}, &r)
	return r.Purged, err
}

// SetClientAuth implements app.Service.
func (c *Client) SetClientAuth(ctx context.Context, transport string, on bool) (int, error) {
	var r mtlsReply
	err := c.do(ctx, http.MethodPut, "/v1/mtls/"+url.PathEscape(transport), switchRequest{On: on}, &r)
	return r.Dropped, err
}

// History implements app.Service.
func (c *Client) History(ctx context.Context, serial string) ([]store.AuditRecord, error) {
	return c.Audit(ctx, store.AuditQuery{CertID: serial})
}

// ExportCA implements app.Service.
func (c *Client) ExportCA(ctx context.Context, path string) error {
	return app.WriteRootPEM(ctx, c, path)
}

// ResolveSerial implements app.Service.
func (c *Client) ResolveSerial(ctx context.Context, prefix string) (string, error) {
	var s string
	err := c.do(ctx, http.MethodGet, "/v1/resolve/"+url.PathEscape(prefix), nil, &s)
	return s, err
}

// ListCerts implements app.Service.
func (c *Client) ListCerts(ctx context.Context, state store.State) ([]app.CertView, error) {
	var v []app.CertView
	err := c.do(ctx, http.MethodGet, "/v1/certs?state="+url.QueryEscape(string(state)), nil, &v)
	return v, err
}

// ShowCert implements app.Service.
func (c *Client) ShowCert(ctx context.Context, serial string) (app.CertDetail, error) {
	var d app.CertDetail
	err := c.do(ctx, http.MethodGet, "/v1/certs/"+url.PathEscape(serial), nil, &d)
	return d, err
}

// IssueClient implements app.Service.
func (c *Client) IssueClient(ctx context.Context, req app.IssueRequest) (app.Bundle, error) {
	var b app.Bundle
	err := c.do(ctx, http.MethodPost, "/v1/certs", req, &b)
	return b, err
}

// SignCSR implements app.Service.
func (c *Client) SignCSR(ctx context.Context, csrPEM []byte, ttl string) (app.Bundle, error) {
	var b app.Bundle
	err := c.do(ctx, http.MethodPost, "/v1/certs/sign", signRequest{CSRPEM: string(csrPEM), TTL: ttl}, &b)
	return b, err
}

// ImportCert implements app.Service.
func (c *Client) ImportCert(ctx context.Context, certPEM []byte) (store.Cert, error) {
	var cert store.Cert
	err := c.do(ctx, http.MethodPost, "/v1/certs/import", pemRequest{PEM: string(certPEM)}, &cert)
	return cert, err
}

// RootPEM implements app.Service.
func (c *Client) RootPEM(ctx context.Context) ([]byte, error) {
	var s string
	err := c.do(ctx, http.MethodGet, "/v1/ca/root", nil, &s)
	return []byte(s), err
}

// RenewCert implements app.Service.
func (c *Client) RenewCert(ctx context.Context, req app.RenewRequest) (app.Bundle, error) {
	var b app.Bundle
	err := c.do(ctx, http.MethodPost, "/v1/certs/renew", req, &b)
	return b, err
}

// SetRenewal implements app.Service.
func (c *Client) SetRenewal(ctx context.Context, on bool) error {
	return c.do(ctx, http.MethodPut, "/v1/renewal", switchRequest{On: on}, nil)
}

// CRL implements app.Service.
func (c *Client) CRL(ctx context.Context, issuer string) ([]byte, error) {
	var der []byte
	err := c.do(ctx, http.MethodGet, "/v1/ca/crl?issuer="+url.QueryEscape(issuer), nil, &der)
	return der, err
}

// TrustCA implements app.Service.
func (c *Client) TrustCA(ctx context.Context, pemChain []byte, strict bool) ([]store.CA, error) {
	var cas []store.CA
	err := c.do(ctx, http.MethodPost, "/v1/cas", pemRequest{PEM: string(pemChain), Strict: &strict}, &cas)
	return cas, err
}

// UntrustCA implements app.Service.
func (c *Client) UntrustCA(ctx context.Context, name string) (app.UntrustResult, error) {
	var r app.UntrustResult
	err := c.do(ctx, http.MethodDelete, "/v1/cas/"+url.PathEscape(name), nil, &r)
	return r, err
}

// SetCAStrict implements app.Service.
func (c *Client) SetCAStrict(ctx context.Context, name string, strict bool) (store.CA, error) {
	var ca store.CA
	err := c.do(ctx, http.MethodPut, "/v1/cas/"+url.PathEscape(name)+"/strict", strictRequest{On: strict}, &ca)
	return ca, err
}

// ListCAs implements app.Service.
func (c *Client) ListCAs(ctx context.Context) ([]store.CA, error) {
	var cas []store.CA
	err := c.do(ctx, http.MethodGet, "/v1/cas", nil, &cas)
	return cas, err
}

// Transports implements app.Service.
func (c *Client) Transports(ctx context.Context) ([]broker.TransportInfo, error) {
	var ts []broker.TransportInfo
	err := c.do(ctx, http.MethodGet, "/v1/mtls", nil, &ts)
	return ts, err
}

// Sessions implements app.Service.
func (c *Client) Sessions(ctx context.Context) ([]broker.Session, error) {
	var ss []broker.Session
	err := c.do(ctx, http.MethodGet, "/v1/sessions", nil, &ss)
	return ss, err
}

// Kick implements app.Service.
func (c *Client) Kick(ctx context.Context, clientID string) error {
	return c.do(ctx, http.MethodPost, "/v1/sessions/"+url.PathEscape(clientID)+"/kick", struct{}{}, nil)
}

// RecentEvents implements app.Service.
func (c *Client) RecentEvents(ctx context.Context) ([]broker.Event, error) {
	var evs []broker.Event
	err := c.do(ctx, http.MethodGet, "/v1/events", nil, &evs)
	return evs, err
}

// Backup implements app.Service by streaming the daemon's copy.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, http.MethodGet, "/v1/backup", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("receive backup: %w", err)
	}
	return n, nil
}

// Audit implements app.Service.
func (c *Client) Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditRecord, error) {
	v := url.Values{}
	if q.Serial != "" {
		v.Set("serial", q.Serial)
	}
	if q.CertID != "" {
		v.Set("cert_id", q.CertID)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var recs []store.AuditRecord
	err := c.do(ctx, http.MethodGet, "/v1/audit?"+v.Encode(), nil, &recs)
	return recs, err
}
