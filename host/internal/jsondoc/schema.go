package jsondoc

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	jskind "github.com/santhosh-tekuri/jsonschema/v6/kind"
)

//go:embed schemas/*.schema.json
var schemaFiles embed.FS

// SchemaBase is where the schemas' ids live; refs between them are relative.
const SchemaBase = "https://wtb.dev/schemas/v1/"

// Schema returns the JSON Schema of a document kind (or "defs", the shared
// definitions).
func Schema(kind string) ([]byte, error) {
	data, err := schemaFiles.ReadFile("schemas/" + kind + ".schema.json")
	if err != nil {
		return nil, fmt.Errorf("no schema for %q (kinds: %v)", kind, Kinds)
	}
	return data, nil
}

var (
	compileOnce sync.Once
	compiled    map[string]*jsonschema.Schema
	compileErr  error
)

func compileSchemas() {
	c := jsonschema.NewCompiler()
	for _, name := range append([]string{"defs"}, Kinds...) {
		data, err := Schema(name)
		if err != nil {
			compileErr = err
			return
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			compileErr = fmt.Errorf("schema %s: %w", name, err)
			return
		}
		if err := c.AddResource(SchemaBase+name+".schema.json", v); err != nil {
			compileErr = fmt.Errorf("schema %s: %w", name, err)
			return
		}
	}
	compiled = map[string]*jsonschema.Schema{}
	for _, kind := range Kinds {
		s, err := c.Compile(SchemaBase + kind + ".schema.json")
		if err != nil {
			compileErr = fmt.Errorf("schema %s: %w", kind, err)
			return
		}
		compiled[kind] = s
	}
}

// Check validates a printed document against the schema its kind names: what
// the tests hold every --format json output to.
func Check(data []byte) error {
	compileOnce.Do(compileSchemas)
	if compileErr != nil {
		return compileErr
	}
	var head Header
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("not a JSON document: %w", err)
	}
	s := compiled[head.Kind]
	if s == nil {
		return fmt.Errorf("unknown document kind %q", head.Kind)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%s document: %w", head.Kind, err)
	}
	return nil
}

// CheckReadable validates a document this wtb reads back (a baseline file)
// the way a forward-compatible reader should: every field it knows must have
// the shape its schema gives, and fields it does not know are read past — a
// newer wtb adds fields without changing the format, so a file it wrote
// still reads in a CI that pins an older wtb. Check, for what wtb prints,
// refuses those fields, so the schemas keep saying exactly what is written.
func CheckReadable(data []byte) error {
	err := Check(data)
	var verr *jsonschema.ValidationError
	if errors.As(err, &verr) && onlyUnknownFields(verr) {
		return nil
	}
	return err
}

// onlyUnknownFields says whether every leaf of a validation error is an
// additionalProperties violation.
func onlyUnknownFields(e *jsonschema.ValidationError) bool {
	if len(e.Causes) == 0 {
		_, ok := e.ErrorKind.(*jskind.AdditionalProperties)
		return ok
	}
	for _, c := range e.Causes {
		if !onlyUnknownFields(c) {
			return false
		}
	}
	return true
}
