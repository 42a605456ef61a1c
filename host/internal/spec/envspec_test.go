package spec

import "testing"

// A variant's environment object: keys that are settings of the provider go
// as they are; the rest are environment variables under "env", which is
// exactly what a string map sent before settings existed.
func TestEnvironmentSpecSplitsSettingsFromVariables(t *testing.T) {
	b := &Batch{
		Workflow: Workflow{Nodes: []Node{
			{Name: "a", Variants: []Variant{{Name: "x", Environment: map[string]any{"QA_LOG": "1", "working_dir": "task"}}}},
			{Name: "b", Variants: []Variant{{Name: "y", Environment: map[string]any{"env_vars": map[string]any{"K": "v"}, "QA_LOG": "2"}}}},
		}},
	}
	c := Combination{Variants: map[string]string{"a": "x", "b": "y"}}
	if got := string(b.EnvironmentSpec(c)); got != `{"env":{"QA_LOG":"2","env_vars":{"K":"v"},"working_dir":"task"}}` {
		t.Fatalf("without provider settings everything is a variable: %s", got)
	}
	b.Environment = &PluginRef{Plugin: "ray", Settings: []string{"env", "env_vars", "working_dir"}}
	if got := string(b.EnvironmentSpec(c)); got != `{"env":{"QA_LOG":"2"},"env_vars":{"K":"v"},"working_dir":"task"}` {
		t.Fatalf("with provider settings: %s", got)
	}
	if got := string(b.EnvironmentSpec(Combination{})); got != `{}` {
		t.Fatalf("no variant environment: %s", got)
	}
}
