package telemetry

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/components/spark"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// emptyHint is shown until some client has published.
const emptyHint = `No telemetry yet: clients that publish JSON like [{"temperature":21.5,"humidity":44}] show up here.`

// Widths of the fixed columns of a client line, and of the parts of a field
// line before its sparkline.
const (
	msgsW, rateW, bytesW, lastW = 6, 6, 9, 8
	fixedW                      = 2 + msgsW + rateW + bytesW + lastW + 5 // gutter and separators
	nameW, valueW               = 14, 8
	fieldW                      = 4 + nameW + 1 + valueW + 1 + 4 + valueW + 5 + valueW + 1
	sparkMax                    = 60 // the collector's window
)

// View implements common.Page.
func (p *Page) View() string {
	if p.charting {
		return common.Fit(p.chartView(), p.width, p.height)
	}
	st := p.c.Styles
	summary := st.Summary.Render(common.Plural(len(p.all), "publishing client") + " · " +
		strconv.Itoa(p.jsons) + " with JSON fields")
	if p.filter.Active() {
		summary = p.filter.View() + st.Summary.Render("  "+strconv.Itoa(len(p.shown))+" match")
	}
	lines := []string{summary}
	switch {
	case len(p.all) == 0:
		lines = append(lines, "", st.Muted.Render(ansi.Wordwrap(emptyHint, p.width, "")))
	case len(p.shown) == 0:
		lines = append(lines, p.header(), st.Muted.Render("No client matches the filter."))
	default:
		lines = append(lines, p.header())
		room := p.listHeight()
		for i := p.offset; i < len(p.shown) && room > 0; i++ {
			block := p.block(i)
			lines = append(lines, block...)
			room -= len(block)
		}
	}
	return common.Fit(strings.Join(lines, "\n"), p.width, p.height)
}

// columns returns the widths of the client and topic columns: what the
// fixed columns leave, a third to the client, because topics are longer
// and usually name the device too (Kaa's kp1/<app>/dcx/<device>/json).
// The topic goes first when the window is narrow.
func (p *Page) columns() (client, topic int) {
	rem := p.width - fixedW
	if rem < 24 {
		return max(8, rem+1), 0
	}
	client = max(12, rem/3)
	return client, rem - client
}

func (p *Page) header() string {
	cw, tw := p.columns()
	cells := []string{pad("CLIENT", cw)}
	if tw > 0 {
		cells = append(cells, pad("TOPIC", tw))
	}
	cells = append(cells, pad("MSGS", msgsW), pad("MSG/s", rateW), pad("BYTES", bytesW), pad("LAST", lastW))
	return p.c.Styles.Header.Render("  " + strings.Join(cells, " "))
}

// block renders the client at shown[i]: its line, then its fields or the
// size and rate of its payloads.
func (p *Page) block(i int) []string {
	st := p.c.Styles
	s := p.all[p.shown[i]]
	cw, tw := p.columns()
	cells := []string{pad(termsafe.Clean(s.ClientID), cw)}
	if tw > 0 {
		cells = append(cells, pad(termsafe.Clean(s.Topic), tw))
	}
	cells = append(cells, pad(common.Count(s.Messages), msgsW), pad(rate(s.Rate), rateW),
		pad(common.Bytes(s.Bytes), bytesW), pad(common.Ago(p.c.Now(), s.LastAt), lastW))
	line := "  " + st.Cell.Render(strings.Join(cells, " "))
	if i == p.cursor {
		line = st.Selected.Render("> " + strings.Join(cells, " "))
	}
	lines := []string{line}
	if len(s.Fields) == 0 {
		return append(lines, "    "+st.Muted.Render(payloads(s)))
	}
	names, more := s.Names(), 0
	if len(names) > maxFieldLines {
		names, more = names[:maxFieldLines-1], len(names)-(maxFieldLines-1)
	}
	for _, name := range names {
		lines = append(lines, p.fieldLine(name, s.Fields[name]))
	}
	if more > 0 {
		lines = append(lines, "    "+st.Muted.Render(fmt.Sprintf("… %d more fields: enter charts them all", more)))
	}
	return lines
}

// fieldLine is one field of a client: latest value, range over the window
// and a sparkline scaled to that range.
func (p *Page) fieldLine(name string, vals []float64) string {
	st := p.c.Styles
	if len(vals) == 0 {
		return "    " + st.Label.Render(pad(termsafe.Clean(name), nameW)) + " -"
	}
	lo, hi := common.Bounds(vals)
	width := min(sparkMax, p.width-fieldW)
	return "    " + st.Label.Render(pad(termsafe.Clean(name), nameW)) + " " + pad(common.Number(vals[len(vals)-1]), valueW) + " " +
		st.Muted.Render("min "+pad(common.Number(lo), valueW)+" max "+pad(common.Number(hi), valueW)) + " " +
		st.Chart.Render(spark.Span(vals, width))
}

// payloads describes a client whose payloads are not JSON with numbers.
func payloads(s app.Series) string {
	out := "non-JSON payloads: " + common.Bytes(s.Bytes)
	if s.Rate > 0 {
		out += ", " + rate(s.Rate) + " msg/s"
	}
	return out
}

// rate renders messages per second; "-" until the collector has two
// arrivals to measure.
func rate(r float64) string {
	if r <= 0 {
		return "-"
	}
	return common.Number(r)
}

// blockHeight is the number of lines block(i) returns.
func (p *Page) blockHeight(i int) int {
	n := len(p.all[p.shown[i]].Fields)
	return 1 + max(1, min(n, maxFieldLines))
}

// listHeight is the number of lines left for blocks under the summary and
// the header.
func (p *Page) listHeight() int { return max(1, p.height-2) }

// scroll keeps the cursor in range and its block on screen, and the screen
// full when the list ends above its bottom. Each loop stops once it has
// counted a screenful of lines, so scrolling costs the same with a
// thousand clients as with ten.
func (p *Page) scroll() {
	n, room := len(p.shown), p.listHeight()
	p.cursor = max(0, min(p.cursor, n-1))
	if n == 0 {
		p.offset = 0
		return
	}
	p.offset = min(p.offset, p.cursor)
	if p.linesBetween(p.offset, p.cursor+1) > room {
		p.offset = p.cursor
		for p.offset > 0 && p.linesBetween(p.offset-1, p.cursor+1) <= room {
			p.offset--
		}
	}
	for p.offset > 0 && p.linesBetween(p.offset-1, n) <= room {
		p.offset--
	}
}

// linesBetween counts the lines of blocks from up to end, stopping once
// they exceed the screen.
func (p *Page) linesBetween(from, end int) int {
	used, room := 0, p.listHeight()
	for i := from; i < end && used <= room; i++ {
		used += p.blockHeight(i)
	}
	return used
}

// fullyVisible is how many blocks fit on screen from the offset, the
// distance page up and page down move.
func (p *Page) fullyVisible() int {
	used, room, n := 0, p.listHeight(), 0
	for i := p.offset; i < len(p.shown); i++ {
		if used += p.blockHeight(i); used > room {
			break
		}
		n++
	}
	return n
}

// pad truncates or pads s to exactly w cells.
func pad(s string, w int) string {
	if sw := ansi.StringWidth(s); sw > w {
		return ansi.Truncate(s, w, "…")
	} else if sw < w {
		return s + strings.Repeat(" ", w-sw)
	}
	return s
}
