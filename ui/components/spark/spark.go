// Package spark renders a one-line rune sparkline. It is used per row of the
// connections table, where a full chart model per session would be far too
// heavy with a thousand sessions; this is a string join over a few floats.
package spark

import "strings"

var levels = []rune("▁▂▃▄▅▆▇█")

// Line renders the last width values as a sparkline, scaled to the largest
// of them. An all-zero window renders as a flat baseline, which still says
// "connected but silent"; fewer values than width are left-padded.
func Line(values []float64, width int) string {
	if width <= 0 {
		return ""
	}
	if len(values) > width {
		values = values[len(values)-width:]
	}
	peak := 0.0
	for _, v := range values {
		peak = max(peak, v)
	}
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", width-len(values)))
	for _, v := range values {
		i := 0
		if peak > 0 && v > 0 {
			i = min(len(levels)-1, int(v/peak*float64(len(levels)-1)+0.5))
		}
		b.WriteRune(levels[i])
	}
	return b.String()
}
