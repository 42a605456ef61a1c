package spec

import (
	"encoding/json"
	"sort"
	"strings"
)

// Masked is what a sensitive value is shown as.
const Masked = "(sensitive)"

// minSensitiveLen is the shortest value masked inside other text: masking
// every "1" or "on" in every log line would hide more than it protects.
const minSensitiveLen = 4

// Redactor masks the values of sensitive variables in text and JSON: in
// stored node logs, and in everything the CLI, the viewer and the report
// show. A nil Redactor masks nothing.
type Redactor struct {
	text *strings.Replacer
	json *strings.Replacer
}

// NewRedactor masks values (longest first, so a value that contains another
// is masked whole).
func NewRedactor(values []string) *Redactor {
	var vs []string
	for _, v := range values {
		if len(v) >= minSensitiveLen {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return nil
	}
	sort.Slice(vs, func(i, j int) bool { return len(vs[i]) > len(vs[j]) })
	var text, inJSON []string
	for _, v := range vs {
		text = append(text, v, Masked)
		// Inside JSON a value may stand escaped (quotes, backslashes, <, >, &).
		enc, _ := json.Marshal(v)
		if e := string(enc[1 : len(enc)-1]); e != v {
			inJSON = append(inJSON, e, Masked)
		}
		inJSON = append(inJSON, v, Masked)
	}
	return &Redactor{text: strings.NewReplacer(text...), json: strings.NewReplacer(inJSON...)}
}

// Redactor masks this batch's sensitive values.
func (b *Batch) Redactor() *Redactor { return NewRedactor(b.Sensitive) }

// String masks sensitive values in s.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	return r.text.Replace(s)
}

// JSON masks sensitive values in a JSON document; the result is still JSON
// (the mask holds no character JSON escapes).
func (r *Redactor) JSON(raw json.RawMessage) json.RawMessage {
	if r == nil || len(raw) == 0 {
		return raw
	}
	out := r.json.Replace(string(raw))
	if len(out) == len(raw) && out == string(raw) {
		return raw
	}
	return json.RawMessage(out)
}
