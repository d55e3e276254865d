package telemetry

import (
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/components/chart"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// Heights of one field's chart in the chart view: below minChart a chart
// says little, so fields scroll instead; above maxChart it only stretches.
const (
	minChart = 3
	maxChart = 12
)

// chartView is the chosen client's header and a tall chart per field, as
// many as fit; the others are reached with up and down.
func (p *Page) chartView() string {
	st := p.c.Styles
	s, _ := p.selected()
	head := st.Section.Render(termsafe.Clean(s.ClientID))
	if s.Topic != "" {
		head += st.Summary.Render(" · " + termsafe.Clean(s.Topic))
	}
	info := fmt.Sprintf("%s msgs · %s msg/s · %s · last %s", common.Count(s.Messages),
		rate(s.Rate), common.Bytes(s.Bytes), common.Ago(p.c.Now(), s.LastAt))
	lines := []string{head, st.Summary.Render(info)}
	if len(s.Fields) == 0 {
		return strings.Join(append(lines, "", payloads(s),
			st.Muted.Render(`Only JSON with numeric fields is charted, e.g. [{"temperature":21.5,"humidity":44}].`)), "\n")
	}
	names := s.Names()
	height, n := p.chartLayout()
	cs := chart.Styles{Axis: st.Muted, Bars: st.Chart}
	names = names[p.fieldOff:min(len(names), p.fieldOff+n)]
	lw := 0
	for _, name := range names {
		lw = max(lw, chart.LabelWidth(s.Fields[name], height))
	}
	for _, name := range names {
		vals := s.Fields[name]
		lines = append(lines, p.chartLabel(name, vals), chart.Render(vals, p.width, height, lw, cs))
	}
	if total := len(s.Fields); n < total {
		lines = append(lines, st.Muted.Render(fmt.Sprintf("fields %d-%d of %d · ↑/↓ for the others",
			p.fieldOff+1, p.fieldOff+len(names), total)))
	}
	return strings.Join(lines, "\n")
}

// chartLabel names a field above its chart, with its latest value and
// range, because the axis labels only show the range.
func (p *Page) chartLabel(name string, vals []float64) string {
	st := p.c.Styles
	if len(vals) == 0 {
		return st.Label.Render(termsafe.Clean(name)) + " -"
	}
	lo, hi := common.Bounds(vals)
	return st.Label.Render(termsafe.Clean(name)) + "  " + common.Number(vals[len(vals)-1]) +
		st.Muted.Render(fmt.Sprintf("  min %s · max %s · last %s, oldest left",
			common.Number(lo), common.Number(hi), common.Plural(len(vals), "value")))
}

// chartLayout returns the height of each chart and how many fields show
// at once: all of them when each gets minChart lines, else as many as fit
// above a line saying how to reach the others.
func (p *Page) chartLayout() (height, fields int) {
	total, avail := p.fieldCount(), p.height-2
	if total == 0 {
		return 0, 0
	}
	if per := avail/total - 1; per >= minChart {
		return min(per, maxChart), total
	}
	avail-- // the line pointing at the other fields
	fields = max(1, avail/(1+minChart))
	return max(1, avail/fields-1), fields
}

// fieldCount is the number of fields of the client under the cursor.
func (p *Page) fieldCount() int {
	s, _ := p.selected()
	return len(s.Fields)
}

// chartFields is how many fields the chart view shows at once.
func (p *Page) chartFields() int {
	_, n := p.chartLayout()
	return n
}

// clampFields keeps the chart view's first field where the last screenful
// of fields still fills the screen.
func (p *Page) clampFields() {
	p.fieldOff = max(0, min(p.fieldOff, p.fieldCount()-p.chartFields()))
}
