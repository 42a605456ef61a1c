// Package plan expands a batch into executions and arranges their node runs in
// a prefix tree: executions of the same case and repeat whose first k nodes
// have the same configuration (and runtime environment) share those k node
// runs. The tree is cut into segments — chains of node runs with no branching
// inside — and each segment is one request to a runner, starting from its
// parent's checkpoint. With sharing off, every execution is its own chain.
package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/wtbench/wtb/host/internal/spec"
)

// Execution is one (combination, case, repeat).
type Execution struct {
	Key         string
	Combination *spec.Combination
	Case        *spec.Case
	Repeat      int
	EnvKey      string
	// Steps is the chain of node runs, root first.
	Steps []*Step
}

// Leaf is the execution's last step.
func (e *Execution) Leaf() *Step { return e.Steps[len(e.Steps)-1] }

// Step is one node run: a node of the tree. Its ID is the id of the
// checkpoint it produces.
type Step struct {
	ID       string
	Parent   *Step // nil for the first node
	Node     spec.Resolved
	Position int // 1-based index in the workflow
	Children []*Step
	// Executions whose chain passes through this step.
	Executions []*Execution
	// Ending lists executions whose chain ends here.
	Ending  []*Execution
	Segment *Segment
	// FilesHash is the hash of the files the node's command names.
	FilesHash string
	// RunKey is the node run's identity, the same in every batch and on
	// every runner: the case and its input, the repeat, and the
	// configuration, scripts and environment of this node and every node
	// before it (and, without prefix sharing, the execution). Model-call
	// recordings are kept under it.
	RunKey string
}

// Segment is a chain of steps run by one runner request.
type Segment struct {
	Key      string
	Steps    []*Step
	Parent   *Segment
	Children []*Segment
	Case     *spec.Case
	Repeat   int
	EnvKey   string
	// Variants of the nodes up to the end of the segment.
	Variants map[string]string
	RootID   string
}

// Last is the segment's last step.
func (s *Segment) Last() *Step { return s.Steps[len(s.Steps)-1] }

// Executions under this segment (ending in it or below it).
func (s *Segment) Executions() []*Execution { return s.Last().Executions }

// KindMerge is the built-in node kind that merges its params into the state.
const KindMerge = "merge"

// BuiltinFrom reports whether the segment's steps from index i on are all
// built-in merge nodes: the host runs those itself, without a runner round
// trip.
func (s *Segment) BuiltinFrom(i int) bool {
	for _, st := range s.Steps[i:] {
		if st.Node.Kind != KindMerge {
			return false
		}
	}
	return i < len(s.Steps)
}

// Plan is the expanded batch: every group of a Planner at once. The scheduler
// does not use it (it takes groups one at a time, so memory follows what is
// in flight); `wtb plan` and fork matching do.
type Plan struct {
	*Planner
	Executions []*Execution
	Roots      []*Segment // segments that start from a case's input
	Segments   []*Segment
	Steps      []*Step
	// RootIDs maps case id to its root checkpoint id.
	RootIDs map[string]string
}

// EnvSpec is one distinct runtime environment.
type EnvSpec struct {
	Key         string
	Spec        []byte
	Combination string
}

// Options select what to plan.
type Options struct {
	BatchID string
	// Skip says an execution key is already stored (resume).
	Skip func(key string) bool
	// SkipCombination leaves a combination out of the groups planned from
	// now on (adaptive repeats and racing stopped it); asked after Skip.
	SkipCombination func(name string) bool
	// FileHasher hashes a node's files; defaults to the hashes recorded in the
	// batch, or to reading the files when none are recorded.
	FileHasher func(paths []string) string
	// Stored says a step's checkpoint is stored already (a fork's copies of
	// its parent's, a resumed batch's): Count tells those apart from the node
	// runs still to run.
	Stored func(id string) bool
}

// Planner plans a batch one group at a time. A group is every execution of
// one case and repeat: the executions that can share node runs (prefixes are
// shared within a case and repeat, never across them), so groups are
// independent and can be planned, run and forgotten one after another.
type Planner struct {
	Batch   *spec.Batch
	BatchID string
	// EnvSpecs maps an environment key to its spec and a combination using it.
	EnvSpecs   map[string]EnvSpec
	opts       Options
	resolved   map[string]resolvedNode // node + "\x00" + variant
	envKeys    map[string]string       // combination name -> environment key
	contentMu  sync.Mutex              // guards content and pathHashes
	content    map[string]string       // environment key -> environmentContent
	pathHashes map[string]string       // path an environment names -> HashTree
}

type resolvedNode struct {
	node      spec.Resolved
	filesHash string
	// portable is the node's configuration and the contents of its files
	// with the paths under the bench file's directory written relative to
	// it: what the run key covers, so recordings replay in any checkout.
	portable string
}

// NewPlanner prepares planning of b.
func NewPlanner(b *spec.Batch, opts Options) *Planner {
	if opts.FileHasher == nil {
		opts.FileHasher = HashFiles
		if b.FileHashes != nil {
			opts.FileHasher = StoredHashes(b.FileHashes)
		}
	}
	p := &Planner{Batch: b, BatchID: opts.BatchID, EnvSpecs: map[string]EnvSpec{}, opts: opts,
		resolved: map[string]resolvedNode{}, envKeys: map[string]string{}, content: map[string]string{}, pathHashes: map[string]string{}}
	for ci := range b.Combinations {
		c := &b.Combinations[ci]
		envSpec := b.EnvironmentSpec(*c)
		key := spec.HashStrings(string(envSpec))[:12]
		p.envKeys[c.Name] = key
		if _, ok := p.EnvSpecs[key]; !ok {
			p.EnvSpecs[key] = EnvSpec{Key: key, Spec: envSpec, Combination: c.Name}
		}
	}
	return p
}

// EnvKey is the environment key of a combination.
func (p *Planner) EnvKey(combination string) string { return p.envKeys[combination] }

// Groups is the number of groups: cases × repeats.
func (p *Planner) Groups() int { return len(p.Batch.Cases) * p.Batch.Repeat }

// RootID is the id of a case's root checkpoint (its input).
func (p *Planner) RootID(caseID string) string { return spec.HashStrings("root", p.BatchID, caseID) }

func (p *Planner) resolve(n *spec.Node, variant string) resolvedNode {
	k := n.Name + "\x00" + variant
	r, ok := p.resolved[k]
	if !ok {
		r.node = n.Resolve(variant, p.Batch.Cache)
		r.filesHash = p.opts.FileHasher(r.node.Files)
		r.portable = p.portableIdentity(r.node)
		p.resolved[k] = r
	}
	return r
}

// Group is the plan of one case and repeat.
type Group struct {
	Case       *spec.Case
	Repeat     int
	RootID     string
	Executions []*Execution
	Steps      []*Step
	Roots      []*Segment
	Segments   []*Segment
}

// Group plans group i — case i % cases, repeat i / cases: round by round,
// every case once per round, so a batch's first executions already cover
// every case (what adaptive repeats and racing decide on) — leaving out
// executions opts.Skip names and combinations opts.SkipCombination stops. A
// group may have no executions left.
func (p *Planner) Group(i int) *Group {
	b := p.Batch
	cs := &b.Cases[i%len(b.Cases)]
	r := i / len(b.Cases)
	g := &Group{Case: cs, Repeat: r, RootID: p.RootID(cs.ID)}
	steps := map[string]*Step{}
	for ci := range b.Combinations {
		c := &b.Combinations[ci]
		key := spec.ExecutionKey(c.Name, cs.ID, r)
		if p.opts.Skip != nil && p.opts.Skip(key) {
			continue
		}
		if p.opts.SkipCombination != nil && p.opts.SkipCombination(c.Name) {
			continue
		}
		ex := &Execution{Key: key, Combination: c, Case: cs, Repeat: r, EnvKey: p.envKeys[c.Name]}
		branch := fmt.Sprintf("r%d", r)
		if !b.SharePrefixes {
			branch = key
		}
		parentID := g.RootID
		parentRun := p.rootRunKey(cs, r)
		var parent *Step
		for ni := range b.Workflow.Nodes {
			n := &b.Workflow.Nodes[ni]
			rn := p.resolve(n, c.Variants[n.Name])
			id := spec.HashStrings(p.BatchID, parentID, n.Name, rn.node.ConfigHash, ex.EnvKey, branch)
			st, ok := steps[id]
			if !ok {
				st = &Step{ID: id, Parent: parent, Node: rn.node, Position: ni + 1, FilesHash: rn.filesHash,
					RunKey: p.runKey(parentRun, rn, ex.EnvKey, branch)}
				steps[id] = st
				g.Steps = append(g.Steps, st)
				if parent != nil {
					parent.Children = append(parent.Children, st)
				}
			}
			st.Executions = append(st.Executions, ex)
			ex.Steps = append(ex.Steps, st)
			parent, parentID, parentRun = st, id, st.RunKey
		}
		parent.Ending = append(parent.Ending, ex)
		g.Executions = append(g.Executions, ex)
	}
	g.cut()
	return g
}

// rootRunKey is the identity a case and repeat start from: the case's id
// and input, not the batch.
func (p *Planner) rootRunKey(cs *spec.Case, repeat int) string {
	sum := sha256.Sum256(cs.Input)
	return spec.HashStrings("run-root-v1", cs.ID, hex.EncodeToString(sum[:]), fmt.Sprint(repeat))
}

// runKey is a step's identity given its parent's (see Step.RunKey). It does
// not cover the contents of files the runner or environment blocks name (the
// node cache key does): those differ between runners that run the same node
// alike (a Ray runner names its Python), and a recording is safe to replay
// whatever they hold — replay matches every request exactly, so a node that
// now asks something else misses instead of getting a stale answer.
//
// Nor does it cover where the repository is checked out: paths under the
// bench file's directory count relative to it (see portableIdentity), so
// cassettes recorded on a laptop replay on a CI runner that checks the
// repository out elsewhere ("run-v1" keys covered the absolute paths).
func (p *Planner) runKey(parent string, rn resolvedNode, envKey, branch string) string {
	return spec.HashStrings("run-v2", parent, rn.node.Name, rn.portable, envKey, branch,
		p.Batch.Gateway.Identity())
}

// Build plans every group of a batch at once.
func Build(b *spec.Batch, opts Options) *Plan {
	p := &Plan{Planner: NewPlanner(b, opts), RootIDs: map[string]string{}}
	for _, cs := range b.Cases {
		p.RootIDs[cs.ID] = p.RootID(cs.ID)
	}
	for i := 0; i < p.Groups(); i++ {
		g := p.Group(i)
		p.Executions = append(p.Executions, g.Executions...)
		p.Steps = append(p.Steps, g.Steps...)
		p.Roots = append(p.Roots, g.Roots...)
		p.Segments = append(p.Segments, g.Segments...)
	}
	return p
}

// cut splits the group's tree into segments at every branching point.
func (g *Group) cut() {
	for _, st := range g.Steps {
		if st.Parent == nil {
			g.Roots = append(g.Roots, g.segmentFrom(st, nil))
		}
	}
}

func (g *Group) segmentFrom(first *Step, parent *Segment) *Segment {
	ex := first.Executions[0]
	seg := &Segment{Parent: parent, Case: ex.Case, Repeat: ex.Repeat, EnvKey: ex.EnvKey, RootID: g.RootID}
	st := first
	for {
		seg.Steps = append(seg.Steps, st)
		st.Segment = seg
		if len(st.Children) != 1 || len(st.Ending) > 0 {
			break
		}
		st = st.Children[0]
	}
	seg.Variants = map[string]string{}
	for _, s := range ex.Steps[:seg.Last().Position] {
		if s.Node.Variant != "" {
			seg.Variants[s.Node.Name] = s.Node.Variant
		}
	}
	last := seg.Last()
	// A segment that serves one execution is named after it; a shared one after
	// the prefix of node variants it runs.
	if len(last.Executions) == 1 {
		seg.Key = ex.Key
	} else {
		var parts []string
		for _, s := range ex.Steps[:last.Position] {
			parts = append(parts, s.Node.Name+"="+orDash(s.Node.Variant))
		}
		seg.Key = fmt.Sprintf("%s/%d/%s", ex.Case.ID, ex.Repeat, strings.Join(parts, ","))
	}
	g.Segments = append(g.Segments, seg)
	for _, child := range last.Children {
		seg.Children = append(seg.Children, g.segmentFrom(child, seg))
	}
	return seg
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
