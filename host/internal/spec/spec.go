// Package spec is the resolved, validated form of a batch test: what the HCL
// loader produces and what the scheduler, evaluators and store consume. It is
// stored with each batch (as JSON) so resume and fork do not need the file.
package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Batch is one batch test, fully resolved.
type Batch struct {
	Name string `json:"name"`
	// File is the bench file it came from and Dir its directory; relative paths
	// in commands were resolved against Dir.
	File string `json:"file"`
	Dir  string `json:"dir"`
	// PluginDir is the bench file's plugin_dir, searched first for plugins.
	PluginDir   string     `json:"plugin_dir,omitempty"`
	Workflow    Workflow   `json:"workflow"`
	Runner      PluginRef  `json:"runner"`
	Environment *PluginRef `json:"environment,omitempty"`
	Cases       []Case     `json:"cases"`
	// Repeat is how many times each case runs per combination: the maximum
	// when Adaptive is set.
	Repeat int `json:"repeat"`
	// Adaptive adds repeats to a combination only until its mean is known
	// well enough; Racing stops combinations that are worse than the best.
	Adaptive   *Adaptive `json:"adaptive,omitempty"`
	Racing     *Racing   `json:"racing,omitempty"`
	Timeout    Duration  `json:"timeout"`
	MaxRetries int       `json:"max_retries"`
	RetryDelay Duration  `json:"retry_backoff"`
	MaxPending int       `json:"max_pending"`
	FailFast   bool      `json:"fail_fast"`
	// SharePrefixes runs each distinct prefix of node configurations once per
	// case and repeat and forks its checkpoint to every suffix.
	SharePrefixes bool          `json:"share_prefixes"`
	Cache         bool          `json:"cache"`
	Combinations  []Combination `json:"combinations"`
	Evaluators    []Evaluator   `json:"evaluators"`
	PassScore     float64       `json:"pass_score"`
	Thresholds    Thresholds    `json:"thresholds"`
	// FileHashes maps every file a node's command names to the SHA-256 of its
	// contents when the batch was created: what resume and fork compare against.
	FileHashes map[string]string `json:"file_hashes,omitempty"`
	// EnvFiles maps every local file or directory the environment settings
	// name (a Ray working_dir, a setup script) to the SHA-256 of its contents
	// when the batch was created.
	EnvFiles map[string]string `json:"env_files,omitempty"`
	// MaxLogBytes bounds the log lines kept per node run (the last ones are
	// kept); 0 keeps none.
	MaxLogBytes int `json:"max_log_bytes,omitempty"`
	// Sensitive are the values of sensitive variables. They are in the spec
	// anyway wherever the bench file uses them (a resume needs them); listing
	// them lets every output mask them (see Redactor).
	Sensitive []string `json:"sensitive,omitempty"`
	// Gateway, when set, puts the model-call gateway beside the nodes.
	Gateway *Gateway `json:"gateway,omitempty"`
	// Budget, when set, bounds what the batch's model calls may cost.
	Budget *Budget `json:"budget,omitempty"`
	// Bridges publish the batch's events to other systems (NATS, webhooks).
	Bridges []Bridge `json:"bridges,omitempty"`
}

// Scripts lists the files the nodes' commands name, sorted, once each.
func (b *Batch) Scripts() []string {
	seen := map[string]bool{}
	for _, n := range b.Workflow.Nodes {
		for _, f := range n.Files {
			seen[f] = true
		}
		for _, v := range n.Variants {
			for _, f := range v.Files {
				seen[f] = true
			}
		}
	}
	return SortedKeys(seen)
}

// KindUse is a node (or one of its variants) and the kind it runs as.
type KindUse struct{ Node, Variant, Kind string }

// UnsupportedKinds lists the nodes and variants whose kind is not in
// supported. An empty list means the runner did not say, and nothing is listed.
func (b *Batch) UnsupportedKinds(supported []string) []KindUse {
	if len(supported) == 0 {
		return nil
	}
	var out []KindUse
	check := func(node, variant, kind string) {
		if kind == "" {
			kind = "command"
		}
		if !slices.Contains(supported, kind) {
			out = append(out, KindUse{node, variant, kind})
		}
	}
	for _, n := range b.Workflow.Nodes {
		check(n.Name, "", n.Kind)
		for _, v := range n.Variants {
			if v.Kind != "" {
				check(n.Name, v.Name, v.Kind)
			}
		}
	}
	return out
}

// UsersOf names the nodes (and variants) whose commands name file.
func (b *Batch) UsersOf(file string) []string {
	var out []string
	for _, n := range b.Workflow.Nodes {
		if slices.Contains(n.Files, file) {
			out = append(out, fmt.Sprintf("node %q", n.Name))
		}
		for _, v := range n.Variants {
			if slices.Contains(v.Files, file) {
				out = append(out, fmt.Sprintf("node %q (variant %s)", n.Name, v.Name))
			}
		}
	}
	return out
}

// PluginRef is a runner or environment block.
type PluginRef struct {
	Block        string          `json:"block"`  // the block's label, e.g. "local"
	Plugin       string          `json:"plugin"` // the plugin's short name, e.g. "pool"
	SHA256       string          `json:"sha256,omitempty"`
	StartTimeout Duration        `json:"start_timeout,omitempty"`
	Config       json.RawMessage `json:"config"`
	// Settings are an environment provider's attribute names: the keys of a
	// variant's environment object that are provider settings rather than
	// environment variables.
	Settings []string `json:"settings,omitempty"`
}

// Workflow is a DAG of nodes in a deterministic topological order.
type Workflow struct {
	Name  string `json:"name"`
	Nodes []Node `json:"nodes"`
}

// Node is one workflow node with its variants.
type Node struct {
	Name           string            `json:"name"`
	Kind           string            `json:"kind"`
	Command        []string          `json:"command,omitempty"`
	DependsOn      []string          `json:"depends_on,omitempty"`
	Params         json.RawMessage   `json:"params,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	Timeout        Duration          `json:"timeout,omitempty"`
	MaxOutputBytes int64             `json:"max_output_bytes,omitempty"`
	Cache          *bool             `json:"cache,omitempty"`
	// Files are the files the command names (resolved paths); their contents are
	// part of the node cache key.
	Files    []string  `json:"files,omitempty"`
	Variants []Variant `json:"variants,omitempty"`
	// Worker runs the command as a persistent worker (nil: once per run).
	Worker *Worker `json:"worker,omitempty"`
}

// Worker is worker = true or worker { max, max_requests, idle_timeout }: the
// node's command runs in long-lived processes that answer one request per
// line. It changes how a node runs, not what it computes, so it is not part of
// the node's configuration hash (cache hits survive turning it on).
type Worker struct {
	Max         int      `json:"max,omitempty"`
	MaxRequests int      `json:"max_requests,omitempty"`
	IdleTimeout Duration `json:"idle_timeout,omitempty"`
}

// Variant overrides parts of a node. Params and Env are already merged over
// the node's; nil Command/Timeout mean "as the node".
type Variant struct {
	Name        string            `json:"name"`
	Kind        string            `json:"kind,omitempty"`
	Command     []string          `json:"command,omitempty"`
	Params      json.RawMessage   `json:"params,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	Timeout     Duration          `json:"timeout,omitempty"`
	Environment map[string]any    `json:"environment,omitempty"`
	Files       []string          `json:"files,omitempty"`
	Worker      *Worker           `json:"worker,omitempty"`
}

// Case is one test case.
type Case struct {
	ID       string          `json:"id"`
	Input    json.RawMessage `json:"input"`
	Expected json.RawMessage `json:"expected,omitempty"`
}

// Combination picks one variant per node that has variants.
type Combination struct {
	Name     string            `json:"name"`
	Variants map[string]string `json:"variants"`
}

// Evaluator scores an execution in [0,1].
type Evaluator struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Node, when set, makes the evaluator score that node's output (and,
	// for latency, its duration) instead of the final state.
	Node          string          `json:"node,omitempty"`
	Path          string          `json:"path,omitempty"`
	Expect        json.RawMessage `json:"expect,omitempty"`
	Pattern       string          `json:"pattern,omitempty"`
	Weight        float64         `json:"weight"`
	Tolerance     float64         `json:"tolerance,omitempty"`
	MaxMs         float64         `json:"max_ms,omitempty"`
	CaseSensitive bool            `json:"case_sensitive,omitempty"`
	Command       []string        `json:"command,omitempty"`
	Timeout       Duration        `json:"timeout,omitempty"`
	// Judge is an llm_judge evaluator's model call (nil for other types).
	Judge *Judge `json:"judge,omitempty"`
	// Match is a trajectory evaluator's comparison: strict, unordered,
	// subset or superset.
	Match string `json:"match,omitempty"`
	// Arguments makes a trajectory evaluator compare the arguments an
	// expected tool call gives.
	Arguments bool `json:"arguments,omitempty"`
	// Tool is the tool a tool_used evaluator looks for.
	Tool string `json:"tool,omitempty"`
	// MaxSteps is a step_count evaluator's most model turns (nil for other
	// types).
	MaxSteps *int `json:"max_steps,omitempty"`
}

// Trajectory evaluators score what the agent did inside its node runs (the
// tool calls and model turns its spans show) rather than what it output.
var TrajectoryTypes = map[string]bool{"trajectory": true, "tool_used": true, "step_count": true}

// Trajectory match modes.
var TrajectoryMatches = []string{"strict", "unordered", "subset", "superset"}

// Judge is what an llm_judge evaluator asks a model, through the gateway's
// upstream of that name: to grade what Path selects by Rubric, on Scale (a
// score from Scale[0] to Scale[1], normalised to 0..1) or by Choices (a
// label, each worth a score in 0..1).
type Judge struct {
	Upstream    string             `json:"upstream"`
	Model       string             `json:"model"`
	Rubric      string             `json:"rubric"`
	Scale       []float64          `json:"scale,omitempty"`
	Choices     map[string]float64 `json:"choices,omitempty"`
	Temperature float64            `json:"temperature"`
	// Format is the API the upstream speaks: "openai" (chat completions)
	// or "anthropic" (messages).
	Format string `json:"format"`
}

// Adaptive is repeat { min, max, until = { ci_half_width } }: a combination
// runs rounds of one repeat over every case, at least Min and at most Max
// (Batch.Repeat), until the 95 % CI of its mean overall score is at most
// CIHalfWidth on either side.
type Adaptive struct {
	Min         int     `json:"min"`
	CIHalfWidth float64 `json:"ci_half_width"`
}

// Racing is racing { confidence, min_cases }: once MinCases cases are scored
// for every combination, a combination whose per-case scores are worse than
// the current best's with the given Confidence (a one-sided paired t test,
// Bonferroni-corrected for every look and every rival) runs no more.
type Racing struct {
	Confidence float64 `json:"confidence"`
	MinCases   int     `json:"min_cases"`
}

// Thresholds decide pass or fail of the batch.
type Thresholds struct {
	OverallScore *float64           `json:"overall_score,omitempty"`
	PassRate     *float64           `json:"pass_rate,omitempty"`
	Evaluators   map[string]float64 `json:"evaluators,omitempty"`
	// AppliesTo is "all" (every combination must meet them) or "best".
	AppliesTo string `json:"applies_to"`
}

// Duration is a time.Duration that reads and writes as "1.5s" in JSON.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string (or nanoseconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return err
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// NodeByName finds a node.
func (w *Workflow) NodeByName(name string) (*Node, int) {
	for i := range w.Nodes {
		if w.Nodes[i].Name == name {
			return &w.Nodes[i], i
		}
	}
	return nil, -1
}

// Variant finds a variant of the node.
func (n *Node) Variant(name string) *Variant {
	for i := range n.Variants {
		if n.Variants[i].Name == name {
			return &n.Variants[i]
		}
	}
	return nil
}

// EnvironmentSpec is the merged environment settings of a combination's
// variants (later nodes win), as JSON; combinations with equal specs share an
// environment. Keys of a variant's environment object that name a setting of
// the environment provider (Settings) are passed as such, e.g. working_dir
// or pip for Ray; the others are environment variables, passed as "env" —
// the shorthand every provider understands.
func (b *Batch) EnvironmentSpec(c Combination) json.RawMessage {
	merged := map[string]any{}
	for _, n := range b.Workflow.Nodes {
		if v := n.Variant(c.Variants[n.Name]); v != nil {
			for k, val := range v.Environment {
				merged[k] = val
			}
		}
	}
	if len(merged) == 0 {
		return json.RawMessage("{}")
	}
	settings := map[string]bool{}
	if b.Environment != nil {
		for _, s := range b.Environment.Settings {
			settings[s] = true
		}
	}
	out := map[string]any{}
	vars := map[string]any{}
	for k, v := range merged {
		if settings[k] {
			out[k] = v
		} else {
			vars[k] = v
		}
	}
	if len(vars) > 0 {
		if set, ok := out["env"].(map[string]any); ok {
			for k, v := range set {
				if _, over := vars[k]; !over {
					vars[k] = v
				}
			}
		}
		out["env"] = vars
	}
	js, _ := json.Marshal(out)
	return js
}

// CombinationName names a combination in workflow order: "retrieve=bm25,answer=t0".
func CombinationName(w *Workflow, variants map[string]string) string {
	var parts []string
	for _, n := range w.Nodes {
		if v, ok := variants[n.Name]; ok && v != "" {
			parts = append(parts, n.Name+"="+v)
		}
	}
	if len(parts) == 0 {
		return "default"
	}
	return strings.Join(parts, ",")
}

// ExecutionKey is the stable identity of an execution: combination, case, repeat.
func ExecutionKey(combination, caseID string, repeat int) string {
	return fmt.Sprintf("%s/%s/%d", combination, caseID, repeat)
}

// Hash returns a stable hash of the batch spec (what it runs and how it scores).
func (b *Batch) Hash() string { return hashJSON(b) }

// Total is the number of executions.
func (b *Batch) Total() int { return len(b.Combinations) * len(b.Cases) * b.Repeat }

func hashJSON(v any) string {
	raw, _ := json.Marshal(v)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

// HashStrings hashes parts with separators that cannot collide.
func HashStrings(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// SortedKeys returns the keys of m in order.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
