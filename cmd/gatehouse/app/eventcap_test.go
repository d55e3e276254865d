package app

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/broker"
)

func TestCapField(t *testing.T) {
	tests := map[string]struct {
		in      string
		whole   bool
		dropped string
	}{
		"ok/short is kept":          {in: "sensor-1", whole: true},
		"ok/exactly the cap":        {in: strings.Repeat("a", maxEventField), whole: true},
		"capped/one byte over":      {in: strings.Repeat("a", maxEventField+1), dropped: "…[+"},
		"capped/multibyte on a cut": {in: strings.Repeat("é", 20_000), dropped: "…[+"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := capField(tt.in)
			if tt.whole {
				if got != tt.in {
					t.Fatalf("capField changed a value within the cap: %q", got)
				}
				return
			}
			if len(got) > maxEventField || !utf8.ValidString(got) || !strings.Contains(got, tt.dropped) {
				t.Fatalf("capField = %q (%d bytes), want at most %d valid bytes with a marker", got, len(got), maxEventField)
			}
			kept := got[:strings.Index(got, "…[+")]
			if !strings.HasPrefix(tt.in, kept) || !strings.HasSuffix(got, "[+"+strconv.Itoa(len(tt.in)-len(kept))+" bytes]") {
				t.Fatalf("capField = %q: not a prefix of the input with the dropped byte count", got)
			}
		})
	}
}

// A device with a 20 KB client ID publishing where the policy denies, to a
// 30 KB topic: its connected and denied events reach the persisted log with
// every field capped.
func TestDeviceChosenEventFieldsAreCapped(t *testing.T) {
	a, addr := openTestApp(t)
	b, err := a.IssueClient(context.Background(), IssueRequest{CN: "dev-long"})
	if err != nil {
		t.Fatal(err)
	}
	clientID := strings.Repeat("c", 20_000)
	c := connectWith(t, addr, b, b.KeyPEM, clientID)
	topic := "elsewhere/" + strings.Repeat("t", 30_000)
	if tok := c.Publish(topic, 0, false, "x"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	var evs []broker.Event
	waitFor(t, "the denied event", func() bool {
		evs, _ = a.Events(context.Background(), EventQuery{Types: []string{broker.EventConnected, broker.EventDenied}})
		return len(evs) == 2
	})
	for _, e := range evs {
		for field, v := range map[string]string{"client_id": e.ClientID, "topic": e.Topic, "reason": e.Reason, "cn": e.CN, "remote": e.Remote} {
			if len(v) > maxEventField {
				t.Errorf("%s event: %s is %d bytes, want at most %d", e.Type, field, len(v), maxEventField)
			}
		}
		if !strings.HasPrefix(e.ClientID, "ccc") || !strings.Contains(e.ClientID, "…[+") {
			t.Errorf("%s event: client id %q is not the capped one", e.Type, e.ClientID)
		}
	}
	if d := evs[1]; d.Type != broker.EventDenied || !strings.HasPrefix(d.Topic, "elsewhere/ttt") {
		t.Errorf("denied event = %+v, want the capped topic", d)
	}
	for _, e := range a.hub.Recent() {
		if len(e.ClientID) > maxEventField || len(e.Topic) > maxEventField {
			t.Errorf("the hub holds an uncapped %s event", e.Type)
		}
	}
}
