package admin

import (
	"context"
	"net/http"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
)

// eventsQueryPath answers app.Service.Events: the query is the JSON body.
const eventsQueryPath = "/v1/events/query"

// Events implements app.Service.
func (c *Client) Events(ctx context.Context, q app.EventQuery) ([]broker.Event, error) {
	var evs []broker.Event
	err := c.do(ctx, http.MethodPost, eventsQueryPath, q, &evs)
	return evs, err
}
