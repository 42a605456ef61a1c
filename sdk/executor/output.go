package executor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/internal/jsonobj"
)

// objectOutput checks a node's output is one JSON object and decodes its top level.
func objectOutput(node string, raw json.RawMessage) (map[string]json.RawMessage, *NodeError) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, &NodeError{Kind: sdk.FailureInvalidOutput,
			Message: fmt.Sprintf("node %q printed nothing on stdout; a node must print one JSON object (print {} to change nothing)", node)}
	}
	if !json.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v)
		return nil, &NodeError{Kind: sdk.FailureInvalidOutput,
			Message: fmt.Sprintf("node %q: stdout is not a JSON object (%v): %s", node, err, quoteStart(trimmed, 120))}
	}
	if trimmed[0] != '{' {
		var v any
		_ = json.Unmarshal(trimmed, &v)
		return nil, &NodeError{Kind: sdk.FailureInvalidOutput,
			Message: fmt.Sprintf("node %q: stdout is not a JSON object (got %s, want an object): %s", node, jsonKind(v), quoteStart(trimmed, 120))}
	}
	m, err := jsonobj.ShallowObject(trimmed)
	if err != nil {
		return nil, &NodeError{Kind: sdk.FailureInvalidOutput, Message: fmt.Sprintf("node %q: stdout: %v", node, err)}
	}
	return m, nil
}

// decodeObject decodes a JSON object keeping numbers exact (json.Number), so a
// state passes through nodes without float rounding.
func decodeObject(data []byte, into *map[string]any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("got %s, want an object", jsonKind(v))
	}
	*into = obj
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
}

func orNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

func orEmptyObject(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("{}")
	}
	return b
}
