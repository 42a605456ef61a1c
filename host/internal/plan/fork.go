package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/wtbench/wtb/host/internal/spec"
)

// ForkMatch maps the steps of a new plan up to the fork node onto the steps of
// the parent batch's plan that produced the same state: same case and repeat,
// and the same configuration (node config, script contents, environment) of
// every node up to and including it.
type ForkMatch struct {
	// Parent maps a new step id to the parent's step (checkpoint) id.
	Parent map[string]string
	// Position of the fork node in the workflow (1-based).
	Position int
}

// signature identifies a step's lineage by configuration, not by batch.
func signature(st *Step) string {
	var parts []string
	for s := st; s != nil; s = s.Parent {
		parts = append(parts, s.Node.Name+"@"+s.Node.ConfigHash+"/"+s.FilesHash)
	}
	ex := st.Executions[0]
	return fmt.Sprintf("%s|%d|%s|%s", ex.Case.ID, ex.Repeat, ex.EnvKey, strings.Join(parts, ";"))
}

// MatchFork pairs the new plan's steps through node with the parent plan's.
// It fails, naming the node and variant, when the new workflow's nodes before
// (and at) the fork point are configured differently from the parent's — its
// checkpoints would then not be the state the new workflow expects.
func MatchFork(parent, next *Plan, node string) (*ForkMatch, error) {
	_, pos := next.Batch.Workflow.NodeByName(node)
	if pos < 0 {
		return nil, fmt.Errorf("the workflow has no node %q", node)
	}
	pos++
	if _, ppos := parent.Batch.Workflow.NodeByName(node); ppos+1 != pos {
		return nil, fmt.Errorf("node %q is not at the same place in both workflows", node)
	}
	for i := 0; i < pos; i++ {
		a, b := parent.Batch.Workflow.Nodes[i].Name, next.Batch.Workflow.Nodes[i].Name
		if a != b {
			return nil, fmt.Errorf("the nodes up to %q differ: the parent runs %q where the new workflow runs %q", node, a, b)
		}
	}
	index := map[string]string{}
	for _, st := range parent.Steps {
		if st.Position <= pos {
			index[signature(st)] = st.ID
		}
	}
	m := &ForkMatch{Parent: map[string]string{}, Position: pos}
	var missing []string
	for _, st := range next.Steps {
		if st.Position > pos {
			continue
		}
		id, ok := index[signature(st)]
		if !ok {
			missing = append(missing, explainMismatch(parent, next, st))
			continue
		}
		m.Parent[st.ID] = id
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		uniq := missing[:1]
		for _, s := range missing[1:] {
			if s != uniq[len(uniq)-1] {
				uniq = append(uniq, s)
			}
		}
		if len(uniq) > 5 {
			uniq = append(uniq[:5], fmt.Sprintf("… and %d more", len(uniq)-5))
		}
		return nil, fmt.Errorf("the parent batch has no checkpoint for %s", strings.Join(uniq, "; "))
	}
	return m, nil
}

// explainMismatch says which node of a step's lineage has no counterpart.
func explainMismatch(parent, next *Plan, st *Step) string {
	var chain []*Step
	for s := st; s != nil; s = s.Parent {
		chain = append([]*Step{s}, chain...)
	}
	ex := st.Executions[0]
	for _, s := range chain {
		found, sameVariant, sameConfig := false, false, false
		for _, ps := range parent.Steps {
			if ps.Node.Name != s.Node.Name {
				continue
			}
			if ps.Node.Variant == s.Node.Variant {
				sameVariant = true
			}
			if ps.Node.ConfigHash == s.Node.ConfigHash {
				sameConfig = true
			}
			if ps.Node.ConfigHash == s.Node.ConfigHash && ps.FilesHash == s.FilesHash {
				found = true
				break
			}
		}
		if found {
			continue
		}
		v := s.Node.Variant
		if v == "" {
			v = "(no variant)"
		}
		switch {
		case sameConfig:
			return fmt.Sprintf("node %q variant %s: %s changed since the parent ran", s.Node.Name, v, changedScripts(parent.Batch, next.Batch, s.Node.Files))
		case sameVariant:
			return fmt.Sprintf("node %q variant %s: its configuration or script changed since the parent ran", s.Node.Name, v)
		default:
			return fmt.Sprintf("node %q variant %s: the parent never ran it", s.Node.Name, v)
		}
	}
	return fmt.Sprintf("case %q repeat %d: the parent did not run it (or ran it in another environment)", ex.Case.ID, ex.Repeat)
}

// changedScripts names the files whose contents differ between what the parent
// batch recorded and what the new batch runs.
func changedScripts(parent, next *spec.Batch, files []string) string {
	hashOf := func(b *spec.Batch, f string) string {
		if b.FileHashes == nil {
			return HashFile(f)
		}
		return b.FileHashes[f]
	}
	var changed []string
	for _, f := range files {
		if hashOf(parent, f) != hashOf(next, f) {
			changed = append(changed, f)
		}
	}
	if len(changed) == 0 {
		return "its script"
	}
	return "its script " + strings.Join(changed, ", ")
}

// NewCombinations names, in next's order, the combinations of next that the
// parent plan did not run as they are configured now: one of their executions
// has no execution in the parent with the same case, repeat, environment and
// configuration (scripts included) of every node — a variant added, or one
// whose settings changed.
func NewCombinations(parent, next *Plan) []string {
	ran := map[string]bool{}
	for _, ex := range parent.Executions {
		ran[signature(ex.Leaf())] = true
	}
	isNew := map[string]bool{}
	for _, ex := range next.Executions {
		if !ran[signature(ex.Leaf())] {
			isNew[ex.Combination.Name] = true
		}
	}
	var out []string
	for _, c := range next.Batch.Combinations {
		if isNew[c.Name] {
			out = append(out, c.Name)
		}
	}
	return out
}
