package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// jsonArray writes a JSON array one element at a time, byte for byte as
// printJSON writes the whole slice, so a listing streamed from the daemon
// prints the same --json output without holding every element.
type jsonArray struct {
	out *bufio.Writer
	buf bytes.Buffer
	enc *json.Encoder
	n   int
}

func newJSONArray(w io.Writer) *jsonArray {
	a := &jsonArray{out: bufio.NewWriterSize(w, 64<<10)}
	a.enc = json.NewEncoder(&a.buf)
	a.enc.SetIndent("  ", "  ") // printJSON's indent, one level in
	a.enc.SetEscapeHTML(false)
	return a
}

// add writes one element.
func (a *jsonArray) add(v any) error {
	a.buf.Reset()
	if err := a.enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	a.sep()
	a.out.Write(bytes.TrimSuffix(a.buf.Bytes(), []byte("\n")))
	return nil
}

// addRaw writes one element given as compact JSON (with HTML characters
// unescaped, as printJSON writes them), indenting it as add would.
func (a *jsonArray) addRaw(raw json.RawMessage) error {
	a.buf.Reset()
	if err := json.Indent(&a.buf, raw, "  ", "  "); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	a.sep()
	a.out.Write(a.buf.Bytes())
	return nil
}

func (a *jsonArray) sep() {
	sep := ",\n  "
	if a.n == 0 {
		sep = "[\n  "
	}
	a.n++
	a.out.WriteString(sep)
}

// close ends the array ("[]" when empty) and flushes it.
func (a *jsonArray) close() error {
	end := "\n]\n"
	if a.n == 0 {
		end = "[]\n"
	}
	a.out.WriteString(end)
	if err := a.out.Flush(); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
