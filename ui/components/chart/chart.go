// Package chart renders a tall chart of one series: a column of block
// elements per value, with eighth-of-a-cell resolution, beside a y axis
// labelled with the window's maximum, middle and minimum.
//
// It stands in for an ntcharts line chart: every ntcharts package imports
// github.com/lrstanley/bubblezone, which this module does not carry, and
// filled columns read as well as a line without colour (NO_COLOR=1).
package chart

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/gatehouse/gatehouse/ui/common"
)

// eighths are the partial cells from one eighth to seven eighths high.
var eighths = []rune("▁▂▃▄▅▆▇")

// Styles are the chart's styles.
type Styles struct {
	// Axis renders the y labels and the axis line; Bars the columns.
	Axis, Bars lipgloss.Style
}

// LabelWidth is the width of the y labels Render writes for values, so
// that charts drawn one above the other can share one.
func LabelWidth(values []float64, height int) int {
	w := 0
	for _, l := range axisLabels(values, height) {
		w = max(w, ansi.StringWidth(l))
	}
	return w
}

// Render draws the last values that fit into exactly width x height cells,
// with y labels at least labelWidth wide.
// The newest value is at the right edge; a window shorter than the plot is
// widened to whole multiples of its columns and left-padded. The minimum is drawn one eighth high rather than empty, so
// every value received shows; a constant window is drawn at half height.
func Render(values []float64, width, height, labelWidth int, st Styles) string {
	if width <= 0 || height <= 0 {
		return ""
	}
	// The label column is sized from the whole window, so that the plot's
	// width is known before the values it shows, and their bounds, are.
	lw := max(labelWidth, LabelWidth(values, height))
	plot := max(0, width-lw-2)
	if len(values) > plot {
		values = values[len(values)-plot:]
	}
	labels := axisLabels(values, height)
	lo, hi := common.Bounds(values)
	levels := widen(scale(values, lo, hi, height*8), plot)
	lines := make([]string, height)
	for r := range height {
		tick := "│"
		if labels[r] != "" {
			tick = "┤"
		}
		axis := strings.Repeat(" ", lw-ansi.StringWidth(labels[r])) + labels[r] + " " + tick
		lines[r] = ansi.Truncate(st.Axis.Render(axis)+st.Bars.Render(row(levels, plot, (height-1-r)*8)), width, "")
	}
	return strings.Join(lines, "\n")
}

// scale maps each value to a column height in eighths, from 1 to top.
func scale(values []float64, lo, hi float64, top int) []int {
	out := make([]int, len(values))
	for i, v := range values {
		out[i] = max(1, top/2)
		if hi > lo {
			out[i] = 1 + int((v-lo)/(hi-lo)*float64(top-1)+0.5)
		}
	}
	return out
}

// widen repeats every column as often as the plot has room for, so that a
// short window fills a large chart instead of hugging its right edge.
func widen(levels []int, width int) []int {
	k := width / max(1, len(levels))
	if k < 2 {
		return levels
	}
	out := make([]int, 0, k*len(levels))
	for _, l := range levels {
		for range k {
			out = append(out, l)
		}
	}
	return out
}

// row renders one line of the plot whose bottom is base eighths above the
// floor: full cells below a column's top, a partial cell at it.
func row(levels []int, width, base int) string {
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", max(0, width-len(levels))))
	for _, l := range levels {
		switch fill := l - base; {
		case fill >= 8:
			b.WriteRune('█')
		case fill <= 0:
			b.WriteByte(' ')
		default:
			b.WriteRune(eighths[fill-1])
		}
	}
	return b.String()
}

// axisLabels labels the top row with the values' maximum, the bottom row
// with their minimum and, from five rows up, the middle row with the value
// half-way up that row; the others get "".
func axisLabels(values []float64, height int) []string {
	labels := make([]string, height)
	if len(values) == 0 {
		return labels
	}
	lo, hi := common.Bounds(values)
	labels[0] = common.Number(hi)
	if height > 1 {
		labels[height-1] = common.Number(lo)
	}
	if height >= 5 && hi > lo {
		mid := float64((height-1-height/2)*8 + 3) // in eighths above the minimum's
		labels[height/2] = common.Number(lo + (hi-lo)*mid/float64(height*8-1))
	}
	return labels
}
