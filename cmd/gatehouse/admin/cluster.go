package admin

import (
	"context"
	"net/http"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
)

// clusterRoutes adds the cluster status endpoint.
func (s *Server) clusterRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /v1/cluster", get(func(r *http.Request) (app.ClusterStatus, error) { return s.svc.ClusterStatus(ctx(r)) }))
}

// ClusterStatus implements app.Service.
func (c *Client) ClusterStatus(ctx context.Context) (app.ClusterStatus, error) {
	var out app.ClusterStatus
	err := c.do(ctx, http.MethodGet, "/v1/cluster", nil, &out)
	return out, err
}
