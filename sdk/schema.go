package sdk

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Schema declares the attributes of a plugin's HCL block. The host validates the
// block against it (names, types, required attributes) before anything runs and
// reports problems at the attribute's file:line:col; Configure then only checks
// meaning (ranges, combinations).
type Schema struct {
	Attributes []Attribute
}

// Attribute declares one attribute of a plugin's HCL block.
type Attribute struct {
	Name string
	// Type is an HCL type expression: "string", "number", "bool", "list(string)",
	// "map(string)", "any", ...
	Type        string
	Required    bool
	Description string
	// Default is used when the attribute is absent; it is encoded as JSON.
	Default any
	// Sensitive values are never printed or logged by the host.
	Sensitive bool
}

// Severity of a diagnostic.
type Severity int

// Diagnostic severities.
const (
	SeverityError Severity = iota + 1
	SeverityWarning
)

// Diagnostic is a problem found in a plugin's configuration. Path names the
// attribute (e.g. []string{"max_workers"}); the host points at its source range.
type Diagnostic struct {
	Severity Severity
	Summary  string
	Detail   string
	Path     []string
}

func (d Diagnostic) Error() string {
	var b strings.Builder
	if len(d.Path) > 0 {
		fmt.Fprintf(&b, "%s: ", strings.Join(d.Path, "."))
	}
	b.WriteString(d.Summary)
	if d.Detail != "" {
		b.WriteString(": ")
		b.WriteString(d.Detail)
	}
	return b.String()
}

// Diagnostics is a list of diagnostics.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// AttributeError is a convenience for an error diagnostic about one attribute.
func AttributeError(attr, summary, detail string) Diagnostic {
	return Diagnostic{Severity: SeverityError, Summary: summary, Detail: detail, Path: []string{attr}}
}

// DecodeConfig decodes a plugin's configuration (a JSON object whose attributes
// follow the plugin's Schema, defaults applied) into v, usually a pointer to a
// struct with json tags.
func DecodeConfig(config json.RawMessage, v any) error {
	if len(config) == 0 {
		config = json.RawMessage("{}")
	}
	if err := json.Unmarshal(config, v); err != nil {
		return fmt.Errorf("decoding plugin configuration: %w", err)
	}
	return nil
}

// WithDefaults returns config (a JSON object) with the defaults of the
// attributes it leaves out filled in — what the host sends a plugin after
// decoding its block.
func (s Schema) WithDefaults(config json.RawMessage) (json.RawMessage, error) {
	obj := map[string]json.RawMessage{}
	if len(config) > 0 {
		if err := json.Unmarshal(config, &obj); err != nil {
			return nil, fmt.Errorf("configuration is not a JSON object: %w", err)
		}
	}
	for _, a := range s.Attributes {
		if _, set := obj[a.Name]; set || a.Default == nil {
			continue
		}
		d, err := json.Marshal(a.Default)
		if err != nil {
			return nil, fmt.Errorf("default of attribute %q: %w", a.Name, err)
		}
		obj[a.Name] = d
	}
	return json.Marshal(obj)
}
