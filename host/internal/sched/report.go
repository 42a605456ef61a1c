package sched

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

// Report is what a run did.
type Report struct {
	Planned    int
	Succeeded  int
	Failed     int
	Unfinished int
	NodeRuns   int
	CachedRuns int
	Resumed    int
	Retries    int
	Cancelled  bool
	FailFast   bool
	Elapsed    time.Duration
	// RoundTrips is how many runner requests were made; their latency (from
	// dispatch to outcome, the runner's own overhead included) is kept in a
	// histogram, so the report's size does not grow with the batch.
	RoundTrips int
	latency    histogram
	// ModelCalls counts the calls nodes made through the gateway, by source
	// (live, recorded, replayed); ReplayMisses those no recording matched.
	ModelCalls   map[string]int
	ReplayMisses int
	// LLM adds up the calls' usage and cost (every node run's once: what
	// the batch would cost live, replayed calls included).
	LLM LLMTotals
	// BudgetStop says why the batch stopped for its budget ("" when it did
	// not).
	BudgetStop string
	// JudgeCalls and Judge count the llm_judge evaluators' calls (by
	// source; usage and cost) apart from the nodes'.
	JudgeCalls map[string]int
	Judge      LLMTotals
}

// LLMTotals is what a batch's model calls used and cost.
type LLMTotals struct {
	Calls, Unpriced int
	Usage           sdk.Usage
	CostUSD         float64
}

// add counts one stored call.
func (l *LLMTotals) add(row store.ModelCall) {
	var one llmTotals
	one.add(row)
	l.Calls++
	l.Unpriced += one.unpriced
	l.CostUSD += one.cost
	l.Usage = l.Usage.Plus(one.usage)
}

// Percentile returns the p-th percentile (0..1) of the runner round trips,
// within 2 %.
func (r Report) Percentile(p float64) time.Duration { return r.latency.percentile(p) }

// tally counts what happens and tells the progress bar and the event bus. Its
// methods are safe for concurrent use (scoring runs off the loop).
type tally struct {
	cfg     Config
	planned int
	envKeys map[string]bool // environments the executions left use

	mu         sync.Mutex
	rep        Report
	comboLeft  map[string]int
	comboStart map[string]bool
}

func newTally(cfg Config, c census) *tally {
	return &tally{cfg: cfg, planned: c.planned, envKeys: c.envKeys, rep: Report{Planned: c.planned}, comboLeft: c.perCombo,
		comboStart: map[string]bool{}}
}

func (t *tally) add(f func(r *Report)) {
	t.mu.Lock()
	f(&t.rep)
	t.mu.Unlock()
}

func (t *tally) nodeRuns(n int) { t.add(func(r *Report) { r.NodeRuns += n }) }

func (t *tally) modelCall(x sdk.Interaction, row store.ModelCall) {
	t.add(func(r *Report) {
		r.LLM.add(row)
		if r.ModelCalls == nil {
			r.ModelCalls = map[string]int{}
		}
		r.ModelCalls[x.Source]++
		if x.Source == sdk.SourceReplayed && x.Status == 0 && x.Error != "" {
			r.ReplayMisses++
		}
	})
}

func (t *tally) judgeCall(row store.ModelCall) {
	t.add(func(r *Report) {
		r.Judge.add(row)
		if r.JudgeCalls == nil {
			r.JudgeCalls = map[string]int{}
		}
		r.JudgeCalls[row.Source]++
	})
}

func (t *tally) cachedRun() { t.add(func(r *Report) { r.CachedRuns++ }) }
func (t *tally) resumed()   { t.add(func(r *Report) { r.Resumed++ }) }
func (t *tally) cancelled() { t.add(func(r *Report) { r.Cancelled = true }) }
func (t *tally) failFast()  { t.add(func(r *Report) { r.FailFast = true }) }
func (t *tally) roundTrip(d time.Duration) {
	t.add(func(r *Report) { r.RoundTrips++; r.latency.add(d) })
}

func (t *tally) retried(key, node string, attempt int, kind sdk.FailureKind, reason string, delay time.Duration) {
	t.add(func(r *Report) { r.Retries++ })
	t.cfg.Bus.Publish(events.Event{Type: events.ExecutionRetried, BatchID: t.cfg.BatchID, ExecutionKey: key,
		Node: node, Attempt: attempt, Error: reason, Data: map[string]any{"kind": kind.String()},
		Message: fmt.Sprintf("attempt %d failed; retrying in %s", attempt, numfmt.Elapsed(delay))})
}

// storeStalled tells the audit trail (and whoever listens) that writes waited
// on the database; err is set when the writer gave up.
func (t *tally) storeStalled(waited time.Duration, attempts int, err error) {
	e := events.Event{Type: events.StoreStalled, BatchID: t.cfg.BatchID, Attempt: attempts,
		Data: map[string]any{"waited_ms": ms(waited), "recovered": err == nil}}
	if err != nil {
		e.Error = err.Error()
		e.Message = fmt.Sprintf("store writes failed after %d attempts over %s", attempts, numfmt.Elapsed(waited))
	} else {
		e.Message = fmt.Sprintf("store writes waited %s on the database (%d attempts)", numfmt.Elapsed(waited), attempts)
	}
	t.cfg.Bus.Publish(e)
}

func (t *tally) comboStarted(name string) {
	t.mu.Lock()
	first := !t.comboStart[name]
	t.comboStart[name] = true
	t.mu.Unlock()
	if first {
		t.cfg.Bus.Publish(events.Event{Type: events.CombinationStarted, BatchID: t.cfg.BatchID, Combination: name,
			Message: "combination " + name + " started"})
	}
}

// executionFinished counts a scored execution and tells about it.
// skipped takes an execution a stopped combination will not run off what is
// planned.
func (t *tally) skipped(combination string) {
	t.mu.Lock()
	t.rep.Planned--
	t.planned--
	t.comboLeft[combination]--
	done := t.comboLeft[combination] == 0
	total := t.planned
	t.mu.Unlock()
	if r, ok := t.cfg.Progress.(Retotaler); ok {
		r.SetTotal(total)
	}
	if done {
		t.cfg.Bus.Publish(events.Event{Type: events.CombinationFinished, BatchID: t.cfg.BatchID, Combination: combination,
			Message: "all executions of " + combination + " finished (it was stopped early)"})
	}
}

func (t *tally) executionFinished(res store.Result, notes map[string]string) {
	t.mu.Lock()
	if res.Success {
		t.rep.Succeeded++
	} else {
		t.rep.Failed++
	}
	t.comboLeft[res.Combination]--
	comboDone := t.comboLeft[res.Combination] == 0
	t.mu.Unlock()
	if p := t.cfg.Progress; p != nil {
		if res.Success {
			p.Add(1, 0)
		} else {
			p.Add(0, 1)
		}
	}
	typ := events.ExecutionFinished
	msg := "score " + numfmt.Score(res.OverallScore)
	if !res.Success {
		typ = events.ExecutionFailed
		msg = "execution failed"
		if res.FailedNode != "" {
			msg = "node " + res.FailedNode + " failed"
		}
	}
	data := map[string]any{"overall_score": res.OverallScore, "duration_ms": res.DurationMs, "attempts": res.Attempts}
	if len(notes) > 0 {
		data["notes"] = notes
	}
	t.cfg.Bus.Publish(events.Event{Type: typ, BatchID: t.cfg.BatchID, Combination: res.Combination,
		ExecutionKey: res.ExecutionKey, Node: res.FailedNode, Attempt: res.Attempts, Message: msg, Error: res.Error, Data: data})
	if comboDone {
		t.cfg.Bus.Publish(events.Event{Type: events.CombinationFinished, BatchID: t.cfg.BatchID, Combination: res.Combination,
			Message: "all executions of " + res.Combination + " finished"})
	}
}

func (t *tally) report(elapsed time.Duration) Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.rep
	r.Unfinished = r.Planned - r.Succeeded - r.Failed
	r.Elapsed = elapsed
	return r
}

// histogram counts durations in buckets growing by 2 %, from 1 µs to about
// an hour: a fixed 1,100 counters whatever the number of samples.
type histogram struct {
	counts []uint64
	n      uint64
}

const (
	histBase   = float64(time.Microsecond)
	histGrowth = 1.02
	histSize   = 1100
)

func (h *histogram) add(d time.Duration) {
	if h.counts == nil {
		h.counts = make([]uint64, histSize)
	}
	i := 0
	if v := float64(d); v > histBase {
		i = min(histSize-1, int(math.Log(v/histBase)/math.Log(histGrowth))+1)
	}
	h.counts[i]++
	h.n++
}

func (h histogram) percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			if i == 0 {
				return time.Duration(histBase)
			}
			return time.Duration(histBase * math.Pow(histGrowth, float64(i)))
		}
	}
	return time.Duration(histBase * math.Pow(histGrowth, histSize))
}
