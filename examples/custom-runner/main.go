// Command wtb-runner-custom is an example of a third-party WTB runner plugin. It
// uses only the public SDK (github.com/wtbench/wtb/sdk and its sub-packages) and
// adds a node kind implemented in Go: "template", which renders a Go text/template
// over the state and the node's params into one state field — the shape of a
// prompt-building step in an LLM pipeline, without spawning a process.
//
// Build it into a plugin directory and select it with `plugin = "custom"`:
//
//	go build -o bin/plugins/wtb-runner-custom ./examples/custom-runner
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"

	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/executor"
	"github.com/wtbench/wtb/sdk/serve"
)

type customRunner struct {
	exec  *executor.Executor
	slots chan struct{}
}

func (r *customRunner) Info() sdk.Info {
	return sdk.Info{
		Name:         "custom",
		Version:      "1.0.0",
		Description:  "Example third-party runner with a Go-implemented \"template\" node kind.",
		Capabilities: []string{sdk.CapabilityStartState, sdk.CapabilityCancel},
		Schema: sdk.Schema{Attributes: []sdk.Attribute{
			{Name: "parallelism", Type: "number", Default: 4, Description: "Executions at once."},
			{Name: "delimiters", Type: "list(string)", Default: []string{"{{", "}}"}, Description: "Template delimiters."},
		}},
	}
}

func (r *customRunner) NodeKinds() []string {
	return []string{executor.KindCommand, executor.KindMerge, "template"}
}

func (r *customRunner) Configure(_ context.Context, raw json.RawMessage) (int, sdk.Diagnostics) {
	var cfg struct {
		Parallelism int      `json:"parallelism"`
		Delimiters  []string `json:"delimiters"`
	}
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return 0, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: err.Error()}}
	}
	if cfg.Parallelism < 1 {
		return 0, sdk.Diagnostics{sdk.AttributeError("parallelism", "parallelism must be at least 1", fmt.Sprintf("got %d", cfg.Parallelism))}
	}
	if len(cfg.Delimiters) != 2 {
		return 0, sdk.Diagnostics{sdk.AttributeError("delimiters", "delimiters needs exactly two strings", "")}
	}
	left, right := cfg.Delimiters[0], cfg.Delimiters[1]
	r.exec = executor.New(executor.Options{Kinds: map[string]executor.NodeFunc{
		"template": func(ctx context.Context, node sdk.Node, in *executor.NodeInput, _ sdk.Events) (map[string]any, error) {
			return renderTemplate(node, in, left, right)
		},
	}})
	r.slots = make(chan struct{}, cfg.Parallelism)
	return cfg.Parallelism, nil
}

// renderTemplate implements the "template" node kind. Params: template (the
// text) and into (the state field to write).
func renderTemplate(node sdk.Node, in *executor.NodeInput, left, right string) (map[string]any, error) {
	var p struct {
		Template string `json:"template"`
		Into     string `json:"into"`
	}
	if err := json.Unmarshal(in.Params, &p); err != nil || p.Template == "" || p.Into == "" {
		return nil, &executor.NodeError{Kind: sdk.FailureStart,
			Message: fmt.Sprintf("template node %q needs params {template, into}", node.Name)}
	}
	tmpl, err := template.New(node.Name).Delims(left, right).Funcs(template.FuncMap{
		"upper": strings.ToUpper, "lower": strings.ToLower,
	}).Option("missingkey=error").Parse(p.Template)
	if err != nil {
		return nil, &executor.NodeError{Kind: sdk.FailureStart, Message: fmt.Sprintf("template node %q: %v", node.Name, err)}
	}
	var params map[string]any
	_ = json.Unmarshal(in.Params, &params)
	state, err := in.StateMap()
	if err != nil {
		return nil, &executor.NodeError{Kind: sdk.FailureStart, Message: fmt.Sprintf("template node %q: %v", node.Name, err)}
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, map[string]any{"state": state, "params": params, "variant": in.Variant}); err != nil {
		return nil, &executor.NodeError{Kind: sdk.FailureExit, Message: fmt.Sprintf("template node %q: %v", node.Name, err)}
	}
	return map[string]any{p.Into: buf.String()}, nil
}

func (r *customRunner) Execute(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) sdk.Outcome {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return sdk.Outcome{Status: sdk.StatusCancelled, Error: "cancelled while queued", FailureKind: sdk.FailureCancelled}
	}
	defer func() { <-r.slots }()
	return r.exec.Execute(ctx, req, ev)
}

func (r *customRunner) Shutdown(context.Context) error { return nil }

func main() {
	serve.Runner(&customRunner{})
}
