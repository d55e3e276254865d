package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// printJSON writes v as indented JSON to stdout.
func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "a -> b" stays readable
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// table writes rows under a header, aligned in columns. Every cell is
// escaped: CNs, SANs, client IDs and reasons come from devices.
func (g *globals) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = termsafe.Clean(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// printf is fmt.Fprintf for text output with every string argument escaped
// by termsafe.Clean, so that text a certificate or a client chose cannot move
// the cursor, recolour or clear the operator's terminal. JSON output never
// goes through it: it stays exact.
func printf(w io.Writer, format string, args ...any) {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = termsafe.Clean(s)
		}
	}
	fmt.Fprintf(w, format, args...)
}

// when formats a timestamp for tables; zero reads as "never".
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// jsonLine encodes v as one line of JSON followed by a newline.
func jsonLine(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return buf.Bytes(), nil
}

// printList prints items as a JSON array (never null) with --json, else as a
// table with one row per item.
func printList[T any](g *globals, items []T, header []string, row func(T) []string) error {
	if g.json {
		if items == nil {
			items = []T{}
		}
		return g.printJSON(items)
	}
	rows := make([][]string, len(items))
	for i, it := range items {
		rows[i] = row(it)
	}
	return g.table(header, rows)
}

func onOff(b bool) string { return map[bool]string{true: "on", false: "off"}[b] }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
