package admin

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// Request bodies of the policy routes.
type (
	moveRequest struct {
		Before string `json:"before"`
	}
	defaultRequest struct {
		Default string `json:"default"`
	}
	okReply struct {
		OK bool `json:"ok"`
	}
)

// aclRoutes serves the authorization policy (docs/admin-api.md).
func (s *Server) aclRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /v1/acl", get(func(r *http.Request) (store.Policy, error) { return s.svc.Policy(ctx(r)) }))
	m.HandleFunc("POST /v1/acl/rules", post(func(r *http.Request, req store.Rule) (store.Rule, error) {
		return s.svc.AddRule(ctx(r), req)
	}))
	m.HandleFunc("DELETE /v1/acl/rules/{id}", get(func(r *http.Request) (store.Rule, error) {
		return s.svc.RemoveRule(ctx(r), r.PathValue("id"))
	}))
	m.HandleFunc("POST /v1/acl/rules/{id}/move", post(func(r *http.Request, req moveRequest) (okReply, error) {
		return okReply{true}, s.svc.MoveRule(ctx(r), r.PathValue("id"), req.Before)
	}))
	m.HandleFunc("PUT /v1/acl/default", post(func(r *http.Request, req defaultRequest) (okReply, error) {
		return okReply{true}, s.svc.SetPolicyDefault(ctx(r), req.Default)
	}))
	m.HandleFunc("POST /v1/acl/test", post(func(r *http.Request, req app.PolicyTest) (app.PolicyDecision, error) {
		return s.svc.TestPolicy(ctx(r), req)
	}))
}

// Policy implements app.Service.
func (c *Client) Policy(ctx context.Context) (store.Policy, error) {
	var p store.Policy
	err := c.do(ctx, http.MethodGet, "/v1/acl", nil, &p)
	return p, err
}

// AddRule implements app.Service.
func (c *Client) AddRule(ctx context.Context, r store.Rule) (store.Rule, error) {
	var out store.Rule
	err := c.do(ctx, http.MethodPost, "/v1/acl/rules", r, &out)
	return out, err
}

// RemoveRule implements app.Service.
func (c *Client) RemoveRule(ctx context.Context, id string) (store.Rule, error) {
	var out store.Rule
	err := c.do(ctx, http.MethodDelete, "/v1/acl/rules/"+url.PathEscape(id), nil, &out)
	return out, err
}

// MoveRule implements app.Service.
func (c *Client) MoveRule(ctx context.Context, id, before string) error {
	return c.do(ctx, http.MethodPost, "/v1/acl/rules/"+url.PathEscape(id)+"/move", moveRequest{Before: before}, nil)
}

// SetPolicyDefault implements app.Service.
func (c *Client) SetPolicyDefault(ctx context.Context, effect string) error {
	return c.do(ctx, http.MethodPut, "/v1/acl/default", defaultRequest{Default: effect}, nil)
}

// TestPolicy implements app.Service.
func (c *Client) TestPolicy(ctx context.Context, q app.PolicyTest) (app.PolicyDecision, error) {
	var d app.PolicyDecision
	err := c.do(ctx, http.MethodPost, "/v1/acl/test", q, &d)
	return d, err
}
