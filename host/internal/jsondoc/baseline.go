package jsondoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/wtbench/wtb/host/internal/application"
)

// Baseline is a baseline file (kind "baseline", `wtb schema baseline`): what
// a comparison needs of a batch, to commit to a repository.
type Baseline = application.Baseline

// WriteBaseline writes a baseline file: indented, with one case and one
// execution a line, so that exporting the same batch again gives the same
// bytes and a new baseline's git diff shows the executions that changed.
func WriteBaseline(w io.Writer, b *Baseline) error {
	var out bytes.Buffer
	field := func(name string, v any, last bool) error {
		raw, err := marshal(v, "  ")
		if err != nil {
			return err
		}
		sep := ","
		if last {
			sep = ""
		}
		fmt.Fprintf(&out, "  %q: %s%s\n", name, raw, sep)
		return nil
	}
	lines := func(name string, n int, item func(i int) any, last bool) error {
		if n == 0 {
			return field(name, []any{}, last)
		}
		fmt.Fprintf(&out, "  %q: [\n", name)
		for i := 0; i < n; i++ {
			raw, err := marshal(item(i), "")
			if err != nil {
				return err
			}
			sep := ","
			if i == n-1 {
				sep = ""
			}
			fmt.Fprintf(&out, "    %s%s\n", raw, sep)
		}
		sep := ","
		if last {
			sep = ""
		}
		fmt.Fprintf(&out, "  ]%s\n", sep)
		return nil
	}
	out.WriteString("{\n")
	for _, err := range []error{
		field("format_version", b.FormatVersion, false),
		field("kind", b.Kind, false),
		field("wtb_version", b.WTBVersion, false),
		field("batch", b.Batch, false),
		field("spec", b.Spec, false),
		lines("cases", len(b.Cases), func(i int) any { return b.Cases[i] }, false),
		lines("executions", len(b.Executions), func(i int) any { return b.Executions[i] }, true),
	} {
		if err != nil {
			return err
		}
	}
	out.WriteString("}\n")
	_, err := w.Write(out.Bytes())
	return err
}

// marshal writes v as JSON without HTML escapes, indented by two spaces a
// level after prefix ("" writes it on one line).
func marshal(v any, prefix string) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if prefix != "" {
		enc.SetIndent(prefix, "  ")
	}
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimRight(buf.Bytes(), "\n")), nil
}
