package plan

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/wtbench/wtb/host/internal/spec"
)

func node(name string, variants ...string) spec.Node {
	n := spec.Node{Name: name, Kind: "merge", Params: json.RawMessage(`{}`)}
	for _, v := range variants {
		n.Variants = append(n.Variants, spec.Variant{Name: v, Params: json.RawMessage(`{"v":"` + v + `"}`)})
	}
	return n
}

func batchOf(share bool, nodes ...spec.Node) *spec.Batch {
	b := &spec.Batch{Workflow: spec.Workflow{Name: "w", Nodes: nodes}, Repeat: 2, SharePrefixes: share,
		Cases: []spec.Case{{ID: "c1", Input: json.RawMessage(`{}`)}, {ID: "c2", Input: json.RawMessage(`{}`)}}}
	combos := []map[string]string{{}}
	for _, n := range nodes {
		if len(n.Variants) == 0 {
			continue
		}
		var next []map[string]string
		for _, c := range combos {
			for _, v := range n.Variants {
				m := map[string]string{n.Name: v.Name}
				for k, x := range c {
					m[k] = x
				}
				next = append(next, m)
			}
		}
		combos = next
	}
	for _, c := range combos {
		b.Combinations = append(b.Combinations, spec.Combination{Name: spec.CombinationName(&b.Workflow, c), Variants: c})
	}
	return b
}

func TestPrefixSharing(t *testing.T) {
	// 3 nodes, variants on the last: per case and repeat 1 + 1 + 10 node runs
	// instead of 30, and segments: one shared prefix and ten leaves.
	leaf := node("c", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
	p := Build(batchOf(true, node("a"), node("b"), leaf), Options{BatchID: "b"})
	if len(p.Executions) != 2*2*10 || len(p.Steps) != 2*2*12 {
		t.Fatalf("%d executions, %d node runs; want 40 and 48", len(p.Executions), len(p.Steps))
	}
	if len(p.Roots) != 4 || len(p.Segments) != 4*11 {
		t.Errorf("%d roots, %d segments; want 4 and 44", len(p.Roots), len(p.Segments))
	}
	for _, r := range p.Roots {
		if len(r.Steps) != 2 || len(r.Children) != 10 {
			t.Errorf("root segment runs %d nodes with %d children; want 2 and 10", len(r.Steps), len(r.Children))
		}
	}
	stats := p.Stats()
	if stats[0].Shared != 4 || stats[2].Shared != 40 || stats[0].Unshared != 40 {
		t.Errorf("stats %+v", stats)
	}
	// Without sharing every execution is its own chain.
	q := Build(batchOf(false, node("a"), node("b"), leaf), Options{BatchID: "b"})
	if len(q.Steps) != 120 || len(q.Segments) != 40 {
		t.Errorf("without sharing: %d node runs, %d segments; want 120 and 40", len(q.Steps), len(q.Segments))
	}
	for _, s := range q.Segments {
		if s.Key != s.Executions()[0].Key {
			t.Errorf("an unshared segment is named after its execution: %q", s.Key)
		}
	}
}

func TestStepIDsAreStable(t *testing.T) {
	b := batchOf(true, node("a", "x", "y"), node("b"))
	p1, p2 := Build(b, Options{BatchID: "b"}), Build(b, Options{BatchID: "b"})
	for i := range p1.Steps {
		if p1.Steps[i].ID != p2.Steps[i].ID {
			t.Fatal("step ids must be deterministic: resume finds stored checkpoints by them")
		}
	}
	p3 := Build(b, Options{BatchID: "other"})
	if p3.Steps[0].ID == p1.Steps[0].ID {
		t.Error("step ids must differ between batches")
	}
	skip := map[string]bool{p1.Executions[0].Key: true}
	if p4 := Build(b, Options{BatchID: "b", Skip: func(k string) bool { return skip[k] }}); len(p4.Executions) != len(p1.Executions)-1 {
		t.Errorf("Skip: %d executions", len(p4.Executions))
	}
}

func TestForkMatching(t *testing.T) {
	parent := Build(batchOf(true, node("a", "x", "y"), node("b", "1")), Options{BatchID: "p"})
	child := Build(batchOf(true, node("a", "x", "y"), node("b", "1", "2")), Options{BatchID: "c"})
	m, err := MatchFork(parent, child, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Parent) != 2*2*2 {
		t.Errorf("%d prefix steps matched; want 8", len(m.Parent))
	}
	changed := node("a", "x", "y")
	changed.Variants[0].Params = json.RawMessage(`{"v":"changed"}`)
	if _, err := MatchFork(parent, Build(batchOf(true, changed, node("b", "1")), Options{BatchID: "c"}), "a"); err == nil {
		t.Error("a changed upstream node must refuse the fork")
	}
}

// The cache key changes with every input a node can read, and only with those.
func TestCacheKeyCoversEverythingANodeSees(t *testing.T) {
	keyOf := func(mutate func(b *spec.Batch)) map[string]string {
		b := batchOf(true, node("a", "x", "y"), node("b"))
		b.Environment = &spec.PluginRef{Plugin: "local", Config: json.RawMessage(`{"env":{"A":"1"}}`)}
		mutate(b)
		p := Build(b, Options{BatchID: "b", FileHasher: func([]string) string { return "files" }})
		out := map[string]string{}
		for _, st := range p.Steps {
			ex := st.Executions[0]
			out[ex.Case.ID+"/"+fmt.Sprint(ex.Repeat)+"/"+st.Node.Name+"/"+ex.Combination.Name] = p.CacheKey([]byte(`{"s":1}`), st)
		}
		return out
	}
	base := keyOf(func(*spec.Batch) {})
	// Every step is a distinct node run (repeats, cases, upstream variants), so
	// no two share a key even when the state before the node is the same.
	seen := map[string]string{}
	for id, k := range base {
		if prev, dup := seen[k]; dup {
			t.Errorf("%s and %s share a cache key", prev, id)
		}
		seen[k] = id
	}
	for name, mutate := range map[string]func(b *spec.Batch){
		"case input":        func(b *spec.Batch) { b.Cases[0].Input = json.RawMessage(`{"q":2}`) },
		"environment block": func(b *spec.Batch) { b.Environment.Config = json.RawMessage(`{"env":{"A":"2"}}`) },
		"node env":          func(b *spec.Batch) { b.Workflow.Nodes[1].Env = map[string]string{"K": "v"} },
		"node params":       func(b *spec.Batch) { b.Workflow.Nodes[1].Params = json.RawMessage(`{"p":1}`) },
	} {
		changed := keyOf(mutate)
		differs := false
		for id, k := range changed {
			differs = differs || base[id] != k
		}
		if !differs {
			t.Errorf("changing the %s leaves every cache key as it was", name)
		}
	}
	// The expected values are not given to nodes, so they are not in the key.
	same := keyOf(func(b *spec.Batch) { b.Cases[0].Expected = json.RawMessage(`{"answer":"x"}`) })
	for id, k := range same {
		if base[id] != k {
			t.Errorf("%s: changing a case's expected values changed its cache key", id)
		}
	}
}

// The node cache key follows the contents of local files and directories the
// environment names (a Ray working_dir), not only their paths; a batch whose
// environment names none keeps the key it always had.
func TestCacheKeyFollowsFilesTheEnvironmentNames(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "task", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("task/sub/data.txt", "v1")
	b := &spec.Batch{Dir: dir, Repeat: 1,
		Workflow: spec.Workflow{Name: "w", Nodes: []spec.Node{{Name: "n", Command: []string{"true"},
			Variants: []spec.Variant{{Name: "a", Environment: map[string]any{"working_dir": "task"}}, {Name: "b"}}}}},
		Cases:       []spec.Case{{ID: "c", Input: json.RawMessage(`{}`)}},
		Environment: &spec.PluginRef{Plugin: "ray", Config: json.RawMessage(`{}`), Settings: []string{"working_dir"}},
	}
	b.Combinations = []spec.Combination{{Name: "n=a", Variants: map[string]string{"n": "a"}}, {Name: "n=b", Variants: map[string]string{"n": "b"}}}
	keys := func() map[string]string {
		p := NewPlanner(b, Options{BatchID: "x"})
		out := map[string]string{}
		g := p.Group(0)
		for _, st := range g.Steps {
			out[st.Executions[0].Combination.Name] = p.CacheKey([]byte(`{}`), st)
		}
		return out
	}
	before := keys()
	write("task/sub/data.txt", "v2")
	after := keys()
	if before["n=a"] == after["n=a"] {
		t.Error("changing a file inside the variant's working_dir kept the cache key")
	}
	if before["n=b"] != after["n=b"] {
		t.Error("a variant whose environment names no local path changed key")
	}
	if again := keys(); again["n=a"] != after["n=a"] {
		t.Error("the key is not stable for unchanged contents")
	}
}

// A node run's identity (what recordings are kept under) does not depend on
// where the repository is checked out: the same bench in two directories
// plans the same run keys, as long as the scripts hold the same. Paths
// outside the bench file's directory still count as they are.
func TestRunKeysDoNotDependOnTheCheckoutPath(t *testing.T) {
	runKeys := func(dir, script, python string) []string {
		t.Helper()
		path := filepath.Join(dir, "agent.py")
		if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		n := spec.Node{Name: "plan", Kind: "command", Command: []string{python, path, "plan"}, Files: []string{path},
			Env: map[string]string{"PROMPTS": filepath.Join(dir, "prompts")}, Params: json.RawMessage(`{}`)}
		b := batchOf(true, n)
		b.Dir = dir
		var keys []string
		for _, st := range Build(b, Options{BatchID: "b"}).Steps {
			keys = append(keys, st.RunKey)
		}
		return keys
	}
	here, there := t.TempDir(), t.TempDir()
	a := runKeys(here, "print('v1')", "python3")
	if b := runKeys(there, "print('v1')", "python3"); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("the same bench checked out elsewhere plans other run keys:\n%v\n%v", a, b)
	}
	if b := runKeys(there, "print('v2')", "python3"); fmt.Sprint(a) == fmt.Sprint(b) {
		t.Error("a changed script must change the run keys")
	}
	if b := runKeys(there, "print('v1')", "/opt/python/bin/python3"); fmt.Sprint(a) == fmt.Sprint(b) {
		t.Error("another interpreter (a path outside the bench directory) must change the run keys")
	}
}
