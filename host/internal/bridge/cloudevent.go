package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// SpecVersion is the CloudEvents version written and read.
const SpecVersion = "1.0"

// Content types of the JSON event format (CloudEvents JSON Event Format 1.0).
const (
	ContentType      = "application/cloudevents+json"
	BatchContentType = "application/cloudevents-batch+json"
)

// Extension attributes WTB sets (and reads on import). CloudEvents
// attribute names are lower-case letters and digits only.
const (
	ExtBatch        = "wtbbatch"
	ExtSeq          = "wtbseq"
	ExtExecutionKey = "wtbexecutionkey"
	ExtCombination  = "wtbcombination"
	ExtNode         = "wtbnode"
)

// Event is a CloudEvent in its JSON form. It is a faithful encoder of the
// JSON Event Format rather than the CloudEvents SDK: the SDK brings its
// protocol bindings, a client and their dependencies for what is here a
// struct and two JSON methods, and WTB speaks NATS and HTTP itself.
type Event struct {
	ID              string
	Source          string
	Type            string
	Subject         string
	Time            time.Time
	DataContentType string
	DataSchema      string
	// Data is the event's data as JSON (datacontenttype JSON), or a JSON
	// string holding it otherwise; DataBase64 is binary data.
	Data       json.RawMessage
	DataBase64 string
	// Extensions are the other attributes: strings, numbers, booleans.
	Extensions map[string]any
}

var contextAttrs = []string{"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data", "data_base64"}

var attrName = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

// MarshalJSON writes the event in the JSON Event Format: attributes in a
// fixed order, extensions sorted, data last.
func (e Event) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"specversion":"` + SpecVersion + `"`)
	field := func(name string, v any) error {
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", name, err)
		}
		b.WriteString(`,"` + name + `":`)
		b.Write(raw)
		return nil
	}
	for _, f := range []struct {
		name, v  string
		required bool
	}{{"id", e.ID, true}, {"source", e.Source, true}, {"type", e.Type, true}, {"subject", e.Subject, false},
		{"datacontenttype", e.DataContentType, false}, {"dataschema", e.DataSchema, false}} {
		if f.v == "" {
			if f.required {
				return nil, fmt.Errorf("a CloudEvent needs %s", f.name)
			}
			continue
		}
		if err := field(f.name, f.v); err != nil {
			return nil, err
		}
	}
	if !e.Time.IsZero() {
		_ = field("time", e.Time.UTC().Format(time.RFC3339Nano))
	}
	keys := make([]string, 0, len(e.Extensions))
	for k := range e.Extensions {
		if !attrName.MatchString(k) || slices.Contains(contextAttrs, k) {
			return nil, fmt.Errorf("%q cannot name a CloudEvents extension attribute (lower-case letters and digits, at most 20)", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := field(k, e.Extensions[k]); err != nil {
			return nil, err
		}
	}
	if len(e.Data) > 0 {
		b.WriteString(`,"data":`)
		b.Write(e.Data)
	} else if e.DataBase64 != "" {
		_ = field("data_base64", e.DataBase64)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads an event in the JSON Event Format, holding it to the
// specification: specversion 1.0, the required attributes, attribute names,
// and data or data_base64 but not both.
func (e *Event) UnmarshalJSON(raw []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	str := func(name string) (string, error) {
		v, ok := m[name]
		if !ok || string(v) == "null" {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("%s must be a string", name)
		}
		return s, nil
	}
	var out Event
	version, err := str("specversion")
	if err != nil {
		return err
	}
	if version != SpecVersion {
		if version == "" {
			return fmt.Errorf("no specversion: not a CloudEvent")
		}
		return fmt.Errorf("specversion %q: only CloudEvents %s is read", version, SpecVersion)
	}
	for _, f := range []struct {
		name     string
		into     *string
		required bool
	}{{"id", &out.ID, true}, {"source", &out.Source, true}, {"type", &out.Type, true}, {"subject", &out.Subject, false},
		{"datacontenttype", &out.DataContentType, false}, {"dataschema", &out.DataSchema, false}, {"data_base64", &out.DataBase64, false}} {
		s, err := str(f.name)
		if err != nil {
			return err
		}
		if s == "" && f.required {
			return fmt.Errorf("no %s: a CloudEvent needs specversion, id, source and type", f.name)
		}
		*f.into = s
	}
	if t, err := str("time"); err != nil {
		return err
	} else if t != "" {
		if out.Time, err = time.Parse(time.RFC3339Nano, t); err != nil {
			return fmt.Errorf("time %q is not an RFC 3339 timestamp", t)
		}
	}
	if d, ok := m["data"]; ok && string(d) != "null" {
		if out.DataBase64 != "" {
			return fmt.Errorf("both data and data_base64: an event has one")
		}
		out.Data = d
	}
	for k, v := range m {
		if slices.Contains(contextAttrs, k) {
			continue
		}
		if !attrName.MatchString(k) {
			return fmt.Errorf("%q is not a CloudEvents attribute name (lower-case letters and digits, at most 20)", k)
		}
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("attribute %s: %w", k, err)
		}
		switch x.(type) {
		case string, float64, bool, nil:
		default:
			return fmt.Errorf("attribute %s is an object or array; extension attributes are strings, numbers or booleans", k)
		}
		if out.Extensions == nil {
			out.Extensions = map[string]any{}
		}
		out.Extensions[k] = x
	}
	*e = out
	return nil
}

// Extension returns a string extension attribute ("" when absent).
func (e *Event) Extension(name string) string {
	switch v := e.Extensions[name].(type) {
	case string:
		return v
	case float64:
		return strings.TrimSuffix(fmt.Sprintf("%f", v), ".000000")
	case bool:
		return fmt.Sprint(v)
	}
	return ""
}
