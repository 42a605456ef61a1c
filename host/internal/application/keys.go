package application

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// An execution has two names. Its execution key is combination/case/repeat,
// "retrieve=bm25,answer=terse/q1/0": what results are stored under. A node run
// is named case/repeat/variants-so-far, "q1/0/answer=terse,retrieve=bm25"
// (variants in node-name order): what a node sees as $WTB_EXECUTION_KEY and
// execution.key, and what a user copies out of a node's log. Stored keys stay
// as they are (changing them would orphan stored batches and cache keys), so
// every command that takes an execution accepts both: a node-run key naming
// every node's variant is one execution; one naming the variants of a prefix
// of the workflow is every execution that shares that node run.

// ErrAmbiguousKey is wrapped by the error for a node-run key that several
// executions share.
var ErrAmbiguousKey = errors.New("the node-run key names several executions")

// KeyError says an execution key or node-run key names no execution of a
// batch, or (Executions set) several.
type KeyError struct {
	Batch, Key string
	// Executions are the execution keys a node-run key names, when it names
	// more than one.
	Executions []string
	// Suggestion is " Did you mean …?" for a key that names nothing.
	Suggestion string
}

func (e *KeyError) Error() string {
	if len(e.Executions) > 1 {
		return fmt.Sprintf("%v: %q is a node run that %d executions of batch %s share (%s)", ErrAmbiguousKey, e.Key,
			len(e.Executions), e.Batch, strings.Join(e.Executions, ", "))
	}
	return fmt.Sprintf("%v: batch %s has no stored execution %q (an execution key is combination/case/repeat; a node-run key, case/repeat/variants).%s",
		ErrNoExecution, e.Batch, e.Key, e.Suggestion)
}

func (e *KeyError) Unwrap() error {
	if len(e.Executions) > 1 {
		return ErrAmbiguousKey
	}
	return ErrNoExecution
}

// result finds the stored result key names in a batch: key as an execution
// key, or else as a node-run key.
func result(ctx context.Context, st store.Store, rec *store.Batch, b *spec.Batch, key string) (*store.Result, error) {
	res, err := st.Results().Get(ctx, rec.ID, key)
	if err == nil {
		return res, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, runtimeErr("reading execution %q of batch %s: %w", key, rec.ID, err)
	}
	keys := ExecutionsOfNodeRun(b, key)
	if len(keys) > 1 {
		return nil, configErr("%w", &KeyError{Batch: rec.ID, Key: key, Executions: keys})
	}
	if len(keys) == 1 {
		res, err = st.Results().Get(ctx, rec.ID, keys[0])
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, runtimeErr("reading execution %q of batch %s: %w", keys[0], rec.ID, err)
		}
	}
	return nil, configErr("%w", &KeyError{Batch: rec.ID, Key: key})
}

// ExecutionsOfNodeRun lists, in execution key order, the executions of b that
// share the node run key names (case/repeat/variants-so-far, as
// executor.RunKey writes it, or as a segment key in the audit trail writes
// it: every node so far in workflow order, "node=-" for one without
// variants): those of that case and repeat whose combination picks every
// variant the key names. Nil when key is not a node-run key of b.
func ExecutionsOfNodeRun(b *spec.Batch, key string) []string {
	var out []string
	for _, cs := range b.Cases {
		rest, ok := strings.CutPrefix(key, cs.ID+"/")
		if !ok {
			continue
		}
		rep, variants, _ := strings.Cut(rest, "/")
		repeat, err := strconv.Atoi(rep)
		if err != nil || repeat < 0 || repeat >= b.Repeat || strconv.Itoa(repeat) != rep {
			continue
		}
		want := map[string]string{}
		if variants != "" {
			for _, part := range strings.Split(variants, ",") {
				node, v, ok := strings.Cut(part, "=")
				if !ok || node == "" {
					want = nil
					break
				}
				if v == "-" {
					v = "" // a segment key (the audit trail's) writes "node=-" for a node without variants
				}
				want[node] = v
			}
		}
		if want == nil {
			continue
		}
		for _, c := range b.Combinations {
			if picks(c, want) {
				out = append(out, spec.ExecutionKey(c.Name, cs.ID, repeat))
			}
		}
	}
	sort.Strings(out)
	return out
}

func picks(c spec.Combination, want map[string]string) bool {
	for node, v := range want {
		if c.Variants[node] != v {
			return false
		}
	}
	return true
}
