package application

import (
	"context"

	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// PlanView is what a batch would run.
type PlanView struct {
	Spec   *spec.Batch
	Counts PlanCounts
	// FromCache counts, per node, the node runs the node cache would serve.
	FromCache []int
}

// Plan counts what a batch would run — executions, runner requests, node runs
// with and without prefix sharing, and the node runs the cache (in st; nil
// for none) would serve — holding one group at a time. It agrees with what a
// run then takes from the cache as far as can be known before running: a
// step's input is known at the first node and after steps that are hits.
func Plan(ctx context.Context, st store.Store, b *spec.Batch) *PlanView {
	p := plan.NewPlanner(b, plan.Options{BatchID: "plan"})
	v := &PlanView{Spec: b, Counts: p.Count(), FromCache: make([]int, len(b.Workflow.Nodes))}
	if st == nil || !anyCached(b) {
		return v
	}
	for i := 0; i < p.Groups(); i++ {
		g := p.Group(i)
		known := map[*plan.Step][]byte{}
		for _, step := range g.Steps { // parents come before children
			in := known[step.Parent]
			if step.Parent == nil {
				in = g.Case.Input
			}
			if in == nil || !step.Node.Cache {
				continue
			}
			if hit, err := st.Checkpoints().FindCached(ctx, p.CacheKey(in, step)); err == nil && hit != nil {
				v.FromCache[step.Position-1]++
				known[step] = hit.State
			}
		}
	}
	return v
}

func anyCached(b *spec.Batch) bool {
	if b.Cache {
		return true
	}
	for _, n := range b.Workflow.Nodes {
		if n.Cache != nil && *n.Cache {
			return true
		}
	}
	return false
}
