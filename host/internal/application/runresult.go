package application

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/leaderboard"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// scoringWarnings are the evaluators that found nothing to compare in most
// of the successful executions this process scored, told to the audit
// trail too. (A resumed batch counts the executions it scored itself.)
func scoringWarnings(bus *events.Bus, batchID string, ev *eval.Evaluator) []leaderboard.Warning {
	out := []leaderboard.Warning{}
	for _, g := range ev.Gaps() {
		w := leaderboard.Warning{Evaluator: g.Evaluator, Attribute: g.Attribute, Path: g.Path, Executions: g.Executions, Of: g.Of, Message: g.String()}
		out = append(out, w)
		if bus != nil {
			bus.Publish(events.Event{Type: events.EvaluatorFoundNothing, BatchID: batchID, Message: w.Message,
				Data: map[string]any{"evaluator": w.Evaluator, "attribute": w.Attribute, "path": w.Path, "executions": w.Executions, "of": w.Of}})
		}
	}
	return out
}

// summarize aggregates a batch's stored results one at a time and lists the
// first failures by key.
func summarize(ctx context.Context, st store.Store, id string, b *spec.Batch, decisions []store.Decision) (leaderboard.Summary, []store.Result, error) {
	agg := leaderboard.NewAggregator(b)
	agg.Decided(decisions)
	failed := 0
	err := st.Results().EachScored(ctx, id, func(r *store.Result) error {
		agg.Add(r)
		if !r.Success {
			failed++
		}
		return nil
	})
	if err != nil {
		return leaderboard.Summary{}, nil, err
	}
	if b.Gateway != nil {
		// What the model calls cost is in the results' metrics, which the
		// scored pass does not read: a second pass, for gateway batches only.
		if err := st.Results().Each(ctx, id, func(r *store.Result) error { agg.AddCost(r); return nil }); err != nil {
			return leaderboard.Summary{}, nil, err
		}
	}
	failures := []store.Result{}
	if failed > 0 {
		if failures, _, err = st.Results().Query(ctx, id, store.ResultQuery{Status: store.ResultFailed, Limit: MaxFailures, NoTotal: true}); err != nil {
			return leaderboard.Summary{}, nil, err
		}
	}
	return agg.Summary(), failures, nil
}

// checkScripts refuses to continue a stored batch with scripts that changed
// since it ran: its results would mix two versions of a node.
func checkScripts(b *spec.Batch, what, hint string) error {
	changes := plan.ChangedFiles(b)
	if len(changes) == 0 {
		return nil
	}
	var lines []string
	for _, c := range changes {
		lines = append(lines, fmt.Sprintf("  %s (%s)", c.Path, strings.Join(c.Nodes, ", ")))
	}
	return configErr("cannot %s: %s changed since it ran:\n%s\n%s", what,
		plural(len(changes), "file", "files"), strings.Join(lines, "\n"), hint)
}

// keySet is a set of strings kept as sorted 64-bit hashes: 8 bytes a key,
// so a resume of a million stored executions needs 8 MB, not a map of
// strings. Two keys of one batch sharing a hash is a 1-in-10^7 chance at a
// million keys, and would make one execution count as stored.
type keySet struct {
	hashes []uint64
}

func (s *keySet) add(k string) {
	h := fnv.New64a()
	_, _ = h.Write([]byte(k))
	s.hashes = append(s.hashes, h.Sum64())
}

func (s *keySet) seal() {
	slices.Sort(s.hashes)
	s.hashes = slices.Compact(s.hashes)
}

func (s *keySet) len() int {
	if s == nil {
		return 0
	}
	return len(s.hashes)
}

func (s *keySet) contains(k string) bool {
	if s == nil || len(s.hashes) == 0 {
		return false
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(k))
	_, found := slices.BinarySearch(s.hashes, h.Sum64())
	return found
}
