package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"sync"

	"github.com/wtbench/wtb/plugins/internal/rayenv"
	"github.com/wtbench/wtb/sdk"
)

// provider keeps the base runtime_env from the environment block and the
// merged runtime_env of every variant it was asked for.
type provider struct {
	mu   sync.Mutex
	base map[string]any
	dir  string // relative working_dir and py_modules paths start here
	envs map[string]sdk.RuntimeEnv
}

func newProvider() *provider { return &provider{envs: map[string]sdk.RuntimeEnv{}} }

func (p *provider) Info() sdk.Info {
	attrs := []sdk.Attribute{{Name: "env", Type: "map(string)",
		Description: "Environment variables, merged into env_vars (what a variant's environment = { NAME = \"value\" } sets)."}}
	for _, f := range rayenv.Fields() {
		attrs = append(attrs, sdk.Attribute{Name: f, Type: "any", Description: "Ray runtime_env field " + f + fieldHelp[f]})
	}
	return sdk.Info{
		Name:        "ray",
		Version:     version,
		Description: "A Ray runtime_env per variant: the block's runtime_env with the variant's merged over it (pip lists concatenated, env_vars merged), applied by the Ray runner to the actors that run the variant.",
		Schema:      sdk.Schema{Attributes: attrs},
	}
}

var fieldHelp = map[string]string{
	"env_vars":    ": environment variables (merged, the variant winning); every runner also passes them to nodes.",
	"pip":         ": packages installed for the actors (concatenated, base first).",
	"working_dir": ": a directory (relative to the bench file) or URI uploaded to the cluster; nodes run in it.",
	"py_modules":  ": directories or URIs importable on the actors (concatenated).",
}

func (p *provider) Configure(_ context.Context, raw json.RawMessage) sdk.Diagnostics {
	base, diags := decode(raw)
	if diags.HasErrors() {
		return diags
	}
	dir := os.Getenv("WTB_BENCH_DIR")
	if dir == "" {
		dir, _ = os.Getwd()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.base, p.dir = base, dir
	return nil
}

// decode reads a runtime_env object, leaving out unset (null) fields, and
// checks it against Ray's fields.
func decode(raw json.RawMessage) (map[string]any, sdk.Diagnostics) {
	var all map[string]any
	if len(raw) > 0 {
		if err := sdk.DecodeConfig(raw, &all); err != nil {
			return nil, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "invalid Ray runtime_env", Detail: err.Error()}}
		}
	}
	env := map[string]any{}
	for k, v := range all {
		if v != nil {
			env[k] = v
		}
	}
	// "env" is wtb's spelling of environment variables in every provider.
	if vars, ok := env["env"].(map[string]any); ok {
		merged := map[string]any{}
		for k, v := range vars {
			merged[k] = v
		}
		if set, ok := env["env_vars"].(map[string]any); ok {
			for k, v := range set {
				merged[k] = v
			}
		}
		env["env_vars"] = merged
		delete(env, "env")
	}
	var diags sdk.Diagnostics
	for _, problem := range rayenv.Check(env) {
		diags = append(diags, sdk.AttributeError(problem.Field, "invalid Ray runtime_env", problem.Message))
	}
	return env, diags
}

func (p *provider) CreateEnvironment(_ context.Context, _, variantID string, raw json.RawMessage) (sdk.RuntimeEnv, sdk.Diagnostics) {
	variant, diags := decode(raw)
	if diags.HasErrors() {
		return sdk.RuntimeEnv{}, diags
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if env, ok := p.envs[variantID]; ok {
		return env, nil
	}
	merged := rayenv.Merge(p.base, variant)
	if problems := rayenv.Check(merged); len(problems) > 0 {
		return sdk.RuntimeEnv{}, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "invalid Ray runtime_env for " + variantID, Detail: problems.String()}}
	}
	if err := rayenv.Localize(merged, p.dir); err != nil {
		return sdk.RuntimeEnv{}, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "invalid Ray runtime_env for " + variantID, Detail: err.Error()}}
	}
	label, err := json.Marshal(merged)
	if err != nil {
		return sdk.RuntimeEnv{}, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "encoding the runtime_env", Detail: err.Error()}}
	}
	vars := map[string]string{}
	for k, v := range asStrings(merged["env_vars"]) {
		vars[k] = v
	}
	sum := sha256.Sum256(label)
	env := sdk.RuntimeEnv{
		ID:  "ray-" + hex.EncodeToString(sum[:6]),
		Env: vars,
		// The directory nodes run in is the one Ray unpacks working_dir to
		// on the actor's node; the runner knows it, this host does not.
		Labels: map[string]string{rayenv.Label: string(label)},
	}
	p.envs[variantID] = env
	return env, nil
}

func asStrings(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := make(map[string]string, len(m))
	for k, x := range m {
		if s, ok := x.(string); ok {
			out[k] = s
		}
	}
	return out
}

func (p *provider) RuntimeEnv(_ context.Context, variantID string) (sdk.RuntimeEnv, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	env, ok := p.envs[variantID]
	return env, ok, nil
}

func (p *provider) CleanupEnvironment(_ context.Context, variantID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.envs, variantID)
	return nil
}

func (p *provider) Shutdown(context.Context) error { return nil }
