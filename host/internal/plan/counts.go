package plan

// NodeStats counts node runs per node.
type NodeStats struct {
	Node string
	// Unshared is one run per execution; Shared is one run per distinct prefix.
	Unshared, Shared, Cached int
	// Stored are the Shared runs whose checkpoints are stored already
	// (Options.Stored): reused, not run.
	Stored int
}

// Counts is the size of a batch's plan.
type Counts struct {
	Executions int
	Segments   int // runner requests, retries aside (segments of built-in nodes only run in the host)
	Nodes      []NodeStats
}

// Stats counts node runs with and without sharing.
func (p *Plan) Stats() []NodeStats { return p.Planner.Count().Nodes }

// Count plans every group and counts, holding one group at a time.
func (p *Planner) Count() Counts {
	c := Counts{Nodes: make([]NodeStats, len(p.Batch.Workflow.Nodes))}
	for i, n := range p.Batch.Workflow.Nodes {
		c.Nodes[i].Node = n.Name
	}
	for i := 0; i < p.Groups(); i++ {
		g := p.Group(i)
		c.Executions += len(g.Executions)
		for _, seg := range g.Segments {
			if !seg.BuiltinFrom(0) {
				c.Segments++
			}
		}
		for _, st := range g.Steps {
			c.Nodes[st.Position-1].Shared++
			if p.opts.Stored != nil && p.opts.Stored(st.ID) {
				c.Nodes[st.Position-1].Stored++
			}
		}
	}
	for i := range c.Nodes {
		c.Nodes[i].Unshared = c.Executions
	}
	return c
}
