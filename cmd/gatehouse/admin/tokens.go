package admin

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// authModeRequest sets a transport's credential mode.
type authModeRequest struct {
	Mode string `json:"mode"`
}

// trustTokenRequest brings an issuer's public keys (JWKS or PEM) and a name.
type trustTokenRequest struct {
	Name string `json:"name"`
	Data string `json:"data"`
}

// tokenRoutes adds the auth mode and token endpoints.
func (s *Server) tokenRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /v1/auth", get(func(r *http.Request) ([]app.AuthModeInfo, error) { return s.svc.AuthModes(ctx(r)) }))
	m.HandleFunc("PUT /v1/auth/{transport}", post(func(r *http.Request, req authModeRequest) (mtlsReply, error) {
		n, err := s.svc.SetAuthMode(ctx(r), r.PathValue("transport"), req.Mode)
		return mtlsReply{Dropped: n}, err
	}))
	m.HandleFunc("GET /v1/tokens", get(func(r *http.Request) (app.TokenList, error) { return s.svc.Tokens(ctx(r)) }))
	m.HandleFunc("POST /v1/tokens", post(func(r *http.Request, req app.TokenRequest) (pki.IssuedToken, error) {
		return s.svc.CreateToken(ctx(r), req)
	}))
	m.HandleFunc("POST /v1/tokens/keys", post(func(r *http.Request, req trustTokenRequest) ([]store.TokenKey, error) {
		return s.svc.TrustTokenKeys(ctx(r), req.Name, []byte(req.Data))
	}))
	m.HandleFunc("DELETE /v1/tokens/keys/{name}", get(func(r *http.Request) (app.TokenUntrustResult, error) {
		return s.svc.UntrustTokenKeys(ctx(r), r.PathValue("name"))
	}))
	m.HandleFunc("POST /v1/tokens/{ref}/transition", post(func(r *http.Request, req transitionRequest) (app.TokenTransitionResult, error) {
		return s.svc.TokenTransition(ctx(r), r.PathValue("ref"), req.To, req.Reason)
	}))
}

// AuthModes implements app.Service.
func (c *Client) AuthModes(ctx context.Context) ([]app.AuthModeInfo, error) {
	var out []app.AuthModeInfo
	err := c.do(ctx, http.MethodGet, "/v1/auth", nil, &out)
	return out, err
}

// SetAuthMode implements app.Service.
func (c *Client) SetAuthMode(ctx context.Context, transport, mode string) (int, error) {
	var r mtlsReply
	err := c.do(ctx, http.MethodPut, "/v1/auth/"+url.PathEscape(transport), authModeRequest{Mode: mode}, &r)
	return r.Dropped, err
}

// Tokens implements app.Service.
func (c *Client) Tokens(ctx context.Context) (app.TokenList, error) {
	var out app.TokenList
	err := c.do(ctx, http.MethodGet, "/v1/tokens", nil, &out)
	return out, err
}

// CreateToken implements app.Service.
func (c *Client) CreateToken(ctx context.Context, req app.TokenRequest) (pki.IssuedToken, error) {
	var out pki.IssuedToken
	err := c.do(ctx, http.MethodPost, "/v1/tokens", req, &out)
	return out, err
}

// TrustTokenKeys implements app.Service.
func (c *Client) TrustTokenKeys(ctx context.Context, name string, data []byte) ([]store.TokenKey, error) {
	var out []store.TokenKey
	err := c.do(ctx, http.MethodPost, "/v1/tokens/keys", trustTokenRequest{Name: name, Data: string(data)}, &out)
	return out, err
}

// UntrustTokenKeys implements app.Service.
func (c *Client) UntrustTokenKeys(ctx context.Context, name string) (app.TokenUntrustResult, error) {
	var out app.TokenUntrustResult
	err := c.do(ctx, http.MethodDelete, "/v1/tokens/keys/"+url.PathEscape(name), nil, &out)
	return out, err
}

// TokenTransition implements app.Service.
func (c *Client) TokenTransition(ctx context.Context, ref string, to store.State, reason string) (app.TokenTransitionResult, error) {
	var out app.TokenTransitionResult
	err := c.do(ctx, http.MethodPost, "/v1/tokens/"+url.PathEscape(ref)+"/transition", transitionRequest{To: to, Reason: reason}, &out)
	return out, err
}
