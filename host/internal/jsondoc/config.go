package jsondoc

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/spec"
)

// Validate is the result of checking a bench file (wtb validate), shaped like
// `terraform validate -json`: valid, counts, and every diagnostic with where
// it points.
type Validate struct {
	Header
	File         string         `json:"file"`
	Valid        bool           `json:"valid"`
	ErrorCount   int            `json:"error_count"`
	WarningCount int            `json:"warning_count"`
	Diagnostics  []Diagnostic   `json:"diagnostics"`
	Batches      []BatchOutline `json:"batches"`
}

// Diagnostic is one problem found in a bench file (or a file it reads).
type Diagnostic struct {
	Severity string `json:"severity"` // error or warning
	Summary  string `json:"summary"`
	Detail   string `json:"detail"`
	Range    *Range `json:"range"` // null when the problem has no place in a file
}

// Range is a span of a file; lines and columns count from 1, bytes from 0.
type Range struct {
	Filename string `json:"filename"`
	Start    Pos    `json:"start"`
	End      Pos    `json:"end"`
}

// Pos is a place in a file.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// BatchOutline is the size of one batch_test.
type BatchOutline struct {
	Name         string `json:"name"`
	Combinations int    `json:"combinations"`
	Cases        int    `json:"cases"`
	Repeat       int    `json:"repeat"`
	Executions   int    `json:"executions"`
}

// ValidateOf describes the outcome of validating file; batches are listed
// when it is valid.
func ValidateOf(file string, diags hcl.Diagnostics, batches []*spec.Batch) Validate {
	d := Validate{Header: header(KindValidate), File: file, Diagnostics: []Diagnostic{}, Batches: []BatchOutline{}}
	for _, diag := range diags {
		sev := "warning"
		if diag.Severity == hcl.DiagError {
			sev = "error"
			d.ErrorCount++
		} else {
			d.WarningCount++
		}
		out := Diagnostic{Severity: sev, Summary: diag.Summary, Detail: diag.Detail}
		if r := diag.Subject; r != nil {
			out.Range = &Range{Filename: r.Filename, Start: Pos{r.Start.Line, r.Start.Column, r.Start.Byte},
				End: Pos{r.End.Line, r.End.Column, r.End.Byte}}
		}
		d.Diagnostics = append(d.Diagnostics, out)
	}
	d.Valid = d.ErrorCount == 0
	if d.Valid {
		for _, b := range batches {
			d.Batches = append(d.Batches, BatchOutline{Name: b.Name, Combinations: len(b.Combinations), Cases: len(b.Cases),
				Repeat: b.Repeat, Executions: b.Total()})
		}
	}
	return d
}

// Plan is what a batch would run (wtb plan).
type Plan struct {
	Header
	Batch         string     `json:"batch"`
	Combinations  int        `json:"combinations"`
	Cases         int        `json:"cases"`
	Repeat        int        `json:"repeat"`
	Executions    int        `json:"executions"`
	SharePrefixes bool       `json:"share_prefixes"`
	Segments      int        `json:"runner_requests"`
	Nodes         []PlanNode `json:"nodes"`
	// NodeRuns totals the node columns; ToRun is what the run would execute
	// (with sharing, less what the cache serves).
	NodeRuns PlanTotals `json:"node_runs"`
	// Adaptive and Racing are the batch's stopping rules (null: none); with
	// them the counts above are the most the batch runs.
	Adaptive *PlanAdaptive `json:"adaptive"`
	Racing   *spec.Racing  `json:"racing"`
}

// PlanAdaptive is adaptive repeats' bounds.
type PlanAdaptive struct {
	Min           int     `json:"min"`
	Max           int     `json:"max"`
	CIHalfWidth   float64 `json:"ci_half_width"`
	ExecutionsMin int     `json:"executions_min"`
	ExecutionsMax int     `json:"executions_max"`
}

// PlanNode is one node's share of the plan.
type PlanNode struct {
	Node         string `json:"node"`
	Variants     int    `json:"variants"`
	RunsUnshared int    `json:"runs_without_sharing"`
	RunsShared   int    `json:"runs_with_sharing"`
	FromCache    int    `json:"from_cache"`
	CacheEnabled bool   `json:"cache"`
}

// PlanTotals adds up the nodes.
type PlanTotals struct {
	WithoutSharing int `json:"without_sharing"`
	WithSharing    int `json:"with_sharing"`
	FromCache      int `json:"from_cache"`
	ToRun          int `json:"to_run"`
}

// PlanOf describes a plan.
func PlanOf(v *application.PlanView) Plan {
	b := v.Spec
	d := Plan{Header: header(KindPlan), Batch: b.Name, Combinations: len(b.Combinations), Cases: len(b.Cases), Repeat: b.Repeat,
		Executions: v.Counts.Executions, SharePrefixes: b.SharePrefixes, Segments: v.Counts.Segments, Nodes: []PlanNode{}}
	for i, s := range v.Counts.Nodes {
		n := b.Workflow.Nodes[i]
		cache := b.Cache
		if n.Cache != nil {
			cache = *n.Cache
		}
		d.Nodes = append(d.Nodes, PlanNode{Node: s.Node, Variants: len(n.Variants), RunsUnshared: s.Unshared, RunsShared: s.Shared,
			FromCache: v.FromCache[i], CacheEnabled: cache})
		d.NodeRuns.WithoutSharing += s.Unshared
		d.NodeRuns.WithSharing += s.Shared
		d.NodeRuns.FromCache += v.FromCache[i]
	}
	d.NodeRuns.ToRun = d.NodeRuns.WithSharing - d.NodeRuns.FromCache
	if ad := b.Adaptive; ad != nil {
		per := len(b.Cases) * len(b.Combinations)
		d.Adaptive = &PlanAdaptive{Min: ad.Min, Max: b.Repeat, CIHalfWidth: ad.CIHalfWidth, ExecutionsMin: ad.Min * per, ExecutionsMax: b.Repeat * per}
	}
	d.Racing = b.Racing
	return d
}
