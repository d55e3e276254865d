package admin

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// issuerRequest names an issuing CA and, to import one, brings its chain
// (issuer first, root last) and key.
type issuerRequest struct {
	Name     string `json:"name"`
	ChainPEM string `json:"chain_pem,omitempty"`
	KeyPEM   string `json:"key_pem,omitempty"`
}

// issuerRoutes adds the issuing CA endpoints.
func (s *Server) issuerRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /v1/issuers", post(func(r *http.Request, req issuerRequest) (store.CA, error) {
		if req.KeyPEM != "" {
			return s.svc.ImportIssuer(ctx(r), req.Name, []byte(req.ChainPEM), []byte(req.KeyPEM))
		}
		return s.svc.CreateIssuer(ctx(r), req.Name)
	}))
	m.HandleFunc("PUT /v1/server-issuer", post(func(r *http.Request, req issuerRequest) (struct{}, error) {
		return struct{}{}, s.svc.SetServerIssuer(ctx(r), req.Name)
	}))
	m.HandleFunc("PUT /v1/issuers/{name}/suspended", post(func(r *http.Request, req switchRequest) (app.IssuerResult, error) {
		return s.svc.SuspendIssuer(ctx(r), r.PathValue("name"), req.On)
	}))
}

// CreateIssuer implements app.Service.
func (c *Client) CreateIssuer(ctx context.Context, name string) (store.CA, error) {
	var ca store.CA
	err := c.do(ctx, http.MethodPost, "/v1/issuers", issuerRequest{Name: name}, &ca)
	return ca, err
}

// ImportIssuer implements app.Service.
func (c *Client) ImportIssuer(ctx context.Context, name string, chainPEM, keyPEM []byte) (store.CA, error) {
	var ca store.CA
	err := c.do(ctx, http.MethodPost, "/v1/issuers", issuerRequest{Name: name, ChainPEM: string(chainPEM), KeyPEM: string(keyPEM)}, &ca)
	return ca, err
}

// SetServerIssuer implements app.Service.
func (c *Client) SetServerIssuer(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPut, "/v1/server-issuer", issuerRequest{Name: name}, nil)
}

// SuspendIssuer implements app.Service.
func (c *Client) SuspendIssuer(ctx context.Context, name string, suspended bool) (app.IssuerResult, error) {
	var r app.IssuerResult
	err := c.do(ctx, http.MethodPut, "/v1/issuers/"+url.PathEscape(name)+"/suspended", switchRequest{On: suspended}, &r)
	return r, err
}
