package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/suggest"
)

var caseSchema = &hcl.BodySchema{Attributes: attrSchema("input", "expected")}

func (c *Config) decodeCase(b *hcl.Block) (spec.Case, hcl.Diagnostics) {
	content, diags := content(b.Body, caseSchema)
	a := &attrs{m: content.Attributes, ctx: c.ctx, diags: diags}
	cs := spec.Case{ID: b.Labels[0], Input: json.RawMessage("{}")}
	if a.has("input") {
		if in, ok := a.object("input"); ok {
			cs.Input = in
		}
	}
	if a.has("expected") {
		cs.Expected, _ = a.anyJSON("expected")
	}
	return cs, a.diags
}

// caseFields are the fields of a line of a cases file.
var caseFields = []string{"id", "input", "expected"}

var unknownFieldRE = regexp.MustCompile(`unknown field "([^"]*)"`)

// maxCaseErrors is how many invalid lines of a cases file are reported before
// reading stops.
const maxCaseErrors = 10

type lineCase struct {
	spec.Case
	where string
	rng   hcl.Range
}

// loadCasesFile reads a JSONL file of {"id", "input", "expected"} objects. Errors
// point at the line in that file.
func (c *Config) loadCasesFile(path string, attrRange hcl.Range) ([]lineCase, hcl.Diagnostics) {
	full := resolvePath(c.Dir, path)
	data, err := os.ReadFile(full)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read cases file", Detail: err.Error() + "." + suggest.File(c.Dir, path), Subject: attrRange.Ptr()}}
	}
	text, d := textOf(data, full, path, "cases file (JSON Lines)")
	if d != nil {
		if d.Subject.Start.Line > 1 || d.Subject.Start.Column > 1 {
			c.parser.Files()[full] = &hcl.File{Bytes: text} // quote the line it is on
		}
		return nil, hcl.Diagnostics{d}
	}
	data = text
	// Register the file so diagnostics can quote its lines.
	c.parser.Files()[full] = &hcl.File{Bytes: data}
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '[' {
		// One mistake, not one per line: the file is JSON, not JSON Lines.
		pos := posAt(data, bytes.IndexByte(data, '['))
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cases file is a JSON array",
			Detail: fmt.Sprintf("%s holds a JSON array; a cases file has one case object per line (JSON Lines). Convert it: jq -c '.[]' %s > converted.jsonl && mv converted.jsonl %s",
				path, shellArg(path), shellArg(path)),
			Subject: &hcl.Range{Filename: full, Start: pos, End: hcl.Pos{Line: pos.Line, Column: pos.Column + 1, Byte: pos.Byte + 1}}}}
	}
	var out []lineCase
	lines := &caseErrors{path: path}
	for line, start := 1, 0; start < len(data); line++ {
		end := bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			end = len(data) - start
		}
		raw := bytes.TrimSuffix(data[start:start+end], []byte("\r"))
		rest := data[start:]
		start += end + 1
		if lines.distinct == maxCaseErrors {
			// A file that is wrong throughout says so once, not per line.
			lines.diags = append(lines.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Too many invalid cases",
				Detail:  fmt.Sprintf("%s has more than %d kinds of invalid lines; stopped reading it at line %d. Is it a JSON Lines file of {\"id\", \"input\", \"expected\"} objects?", path, maxCaseErrors, line),
				Subject: attrRange.Ptr()})
			return out, lines.done()
		}
		text := bytes.TrimSpace(raw)
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		rng := hcl.Range{Filename: full, Start: hcl.Pos{Line: line, Column: 1}, End: hcl.Pos{Line: line, Column: utf8.RuneCount(raw) + 1}}
		var cs struct {
			ID       *string         `json:"id"`
			Input    json.RawMessage `json:"input"`
			Expected json.RawMessage `json:"expected"`
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cs); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && spansLines(rest) {
				// {"id": … continued on the next lines: pretty-printed JSON.
				lines.diags = append(lines.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Case spans several lines",
					Detail: fmt.Sprintf("The case that starts on line %d of %s does not end on it; a cases file has one whole case object per line (JSON Lines). "+
						"Put each case on one line: jq -c . %s > converted.jsonl && mv converted.jsonl %s", line, path, shellArg(path), shellArg(path)),
					Subject: rng.Ptr()})
				return out, lines.done()
			}
			hint := ""
			if m := unknownFieldRE.FindStringSubmatch(err.Error()); m != nil {
				hint = suggest.DidYouMean(m[1], caseFields)
			}
			lines.add(line, rng, "Invalid case", caseError(err)+"."+hint,
				fmt.Sprintf("Line %d of %s is not a case object {\"id\", \"input\", \"expected\"}: %s.%s", line, path, caseError(err), hint))
			continue
		}
		if cs.ID == nil || *cs.ID == "" {
			lines.add(line, rng, "Case without id", "", fmt.Sprintf("Line %d of %s has no \"id\".", line, path))
			continue
		}
		if len(cs.Input) == 0 || bytes.Equal(cs.Input, []byte("null")) {
			cs.Input = json.RawMessage("{}")
		} else if trimmed := bytes.TrimSpace(cs.Input); len(trimmed) == 0 || trimmed[0] != '{' {
			lines.add(line, rng, "Invalid case input", "", fmt.Sprintf("Line %d of %s: \"input\" must be a JSON object.", line, path))
			continue
		}
		out = append(out, lineCase{Case: spec.Case{ID: *cs.ID, Input: cs.Input, Expected: cs.Expected},
			where: fmt.Sprintf("%s:%d", path, line), rng: rng})
	}
	return out, lines.done()
}

// spansLines says whether a JSON value starts at the beginning of data and
// ends on a later line: a case pretty-printed over several lines.
func spansLines(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v map[string]any
	if dec.Decode(&v) != nil {
		return false
	}
	return bytes.IndexByte(data[:dec.InputOffset()], '\n') >= 0
}

// caseErrors collects the invalid lines of a cases file, one diagnostic per
// kind of mistake: the same mistake on every line (an id written as a
// number) is one diagnostic at its first line that lists the others.
type caseErrors struct {
	path     string
	diags    hcl.Diagnostics
	distinct int
	first    map[string]*hcl.Diagnostic
	more     map[string][]int
}

func (e *caseErrors) add(line int, rng hcl.Range, summary, kind, detail string) {
	key := summary + "\x00" + kind
	if d, seen := e.first[key]; seen && d != nil {
		e.more[key] = append(e.more[key], line)
		return
	}
	if e.first == nil {
		e.first, e.more = map[string]*hcl.Diagnostic{}, map[string][]int{}
	}
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}
	e.first[key] = d
	e.diags = append(e.diags, d)
	e.distinct++
}

// done appends to each diagnostic the other lines with the same mistake.
func (e *caseErrors) done() hcl.Diagnostics {
	for key, lines := range e.more {
		d := e.first[key]
		shown := lines
		if len(shown) > 10 {
			shown = shown[:10]
		}
		list := make([]string, len(shown))
		for i, l := range shown {
			list[i] = fmt.Sprint(l)
		}
		d.Detail += fmt.Sprintf(" The same on %s %s", map[bool]string{true: "line", false: "lines"}[len(lines) == 1], strings.Join(list, ", "))
		if len(lines) > len(shown) {
			d.Detail += fmt.Sprintf(" and %d more", len(lines)-len(shown))
		}
		d.Detail += "."
	}
	return e.diags
}

// caseError words a JSON decoding error of a case line for a person: which
// field has the wrong type, not Go's struct vocabulary.
func caseError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		want := "a string"
		if te.Field != "id" {
			want = "a JSON value"
		}
		return fmt.Sprintf("%q is a %s; it must be %s", te.Field, te.Value, want)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "the line ends before the case object does"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
