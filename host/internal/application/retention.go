package application

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// Retention: `wtb delete` and `wtb gc` remove batches with everything that
// belongs to them — results, checkpoints, the audit trail, model-call
// recordings and any other table of batch rows — one transaction per batch,
// and give the space back where the database can.
//
// What is never deleted: a batch whose owner's lease is live (it is being
// run; an owner on this machine whose process is gone does not count), a
// batch created a moment ago that has no owner yet, and a batch whose
// checkpoints a rescored batch reads (a rescore stores scores, not states:
// `show`, `compare --cases` and a rescore of the rescore read its parent's
// checkpoints). Forks copy the checkpoints they reuse when they start
// (fork.go), so a parent may go while its forks stay: they are detached —
// no parent, still a fork at their node.

// Deletion is one batch a retention command deleted, would delete (a dry
// run) or keeps.
type Deletion struct {
	// Batch has no spec, summary or decisions.
	Batch store.Batch
	// Rows are its rows per table: deleted, or (dry run) to delete.
	Rows store.RowCounts
	// Kept says why the batch stays ("" for one that goes).
	Kept string
	// Detached are its forks that stay, without a parent from now on.
	Detached []string
	// Partition is the month (YYYYMM) whose partitions were dropped (or, on
	// a dry run, would be) with this batch's rows, rather than deleting them
	// row by row; Rows then counts only a dry run's rows (the partition's
	// count is in RetentionOutcome.Partitions).
	Partition string
}

// PartitionDrop is a month whose partitions went whole (PostgreSQL): every
// batch started that month was deleted.
type PartitionDrop struct {
	Month   string
	Tables  []string
	Batches []string
	// Rows are the rows the partitions held, and those of the month's
	// batches in the other tables; nil on a dry run.
	Rows store.RowCounts
}

// RetentionOutcome is what a retention command did, or would do.
type RetentionOutcome struct {
	DryRun bool
	// Deleted are the batches deleted (or to delete), newest first.
	Deleted []Deletion
	// Kept are the batches asked for (or old enough) that stay, with why.
	Kept []Deletion
	// Rows are the rows deleted (or to delete) in all.
	Rows store.RowCounts
	// Reclaimed says what giving the space back did; nil on a dry run or
	// when nothing was deleted.
	Reclaimed *store.Reclaimed
	// Protected counts the batches --keep-last kept.
	Protected int
	// Partitions are the months whose partitions were dropped (or would
	// be), oldest first.
	Partitions []PartitionDrop
}

// DeleteOptions say which batches `wtb delete` removes.
type DeleteOptions struct {
	IDs []string
	// WithForks deletes every batch derived from them too — forks and
	// rescores, and theirs — rather than keeping the forks (detached) and
	// refusing for the rescores.
	WithForks bool
	DryRun    bool
	// Vacuum rewrites an older SQLite database once (see store.Reclaim).
	Vacuum bool
}

// GCOptions say which batches `wtb gc` removes: those created more than
// OlderThan ago, except the KeepLast most recent of each batch name.
type GCOptions struct {
	// OlderThan is the minimum age (negative: any age).
	OlderThan time.Duration
	// KeepLast keeps the N most recent batches of each name, whatever their
	// age (0: none).
	KeepLast int
	DryRun   bool
	Vacuum   bool
	// Now is the time ages are measured from (zero: now).
	Now time.Time
}

// startingGrace is how long a running batch with no owner yet counts as
// starting (its process stores the row, then takes the lease).
const startingGrace = time.Minute

// Delete removes the batches o names, all or none: when one of them must
// stay (it is running, or a rescored batch reads its checkpoints) nothing is
// deleted and the error says why.
func (a *App) Delete(ctx context.Context, st store.Store, o DeleteOptions) (*RetentionOutcome, error) {
	if len(o.IDs) == 0 {
		return nil, configErr("name the batches to delete (`wtb results --list` lists them), or use `wtb gc`")
	}
	all, err := st.Retention().All(ctx)
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	tree := newLineage(all)
	var chosen []string
	for _, id := range o.IDs {
		if id == "latest" || id == "" {
			return nil, configErr("name the batch to delete by its id: deleting %q is too easy to get wrong", id)
		}
		if tree.byID[id] == nil {
			_, _, err := Batch(ctx, st, id) // the error, with the id probably meant
			if err == nil {
				err = configErr("%w: %s", ErrNoBatch, id)
			}
			return nil, err
		}
		if !slices.Contains(chosen, id) {
			chosen = append(chosen, id)
		}
	}
	if o.WithForks {
		chosen = tree.withDescendants(chosen)
	}
	out := a.plan(tree, chosen, time.Now())
	if len(out.Kept) > 0 {
		return nil, refusal(out.Kept)
	}
	if o.Vacuum {
		if err := vacuumAllowed(all); err != nil {
			return nil, err
		}
	}
	return out, a.apply(ctx, st, tree, out, o.DryRun, o.Vacuum)
}

// GC removes the batches older than o.OlderThan, keeping the o.KeepLast most
// recent of each name; those that must stay are listed with why.
func (a *App) GC(ctx context.Context, st store.Store, o GCOptions) (*RetentionOutcome, error) {
	if o.OlderThan < 0 && o.KeepLast <= 0 {
		return nil, configErr("gc needs --older-than AGE (e.g. 30d), --keep-last N, or both: it deletes nothing else")
	}
	if o.KeepLast < 0 {
		return nil, configErr("--keep-last must be 0 or more, not %d", o.KeepLast)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	all, err := st.Retention().All(ctx)
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	tree := newLineage(all)
	protected := map[string]bool{}
	if o.KeepLast > 0 {
		seen := map[string]int{}
		for i := len(all) - 1; i >= 0; i-- { // newest first
			if seen[all[i].Name]++; seen[all[i].Name] <= o.KeepLast {
				protected[all[i].ID] = true
			}
		}
	}
	var chosen []string
	for _, b := range all {
		if protected[b.ID] || (o.OlderThan >= 0 && now.Sub(b.CreatedAt) <= o.OlderThan) {
			continue
		}
		chosen = append(chosen, b.ID)
	}
	if o.Vacuum {
		if err := vacuumAllowed(all); err != nil {
			return nil, err
		}
	}
	out := a.plan(tree, chosen, now)
	for _, b := range all {
		if protected[b.ID] && (o.OlderThan < 0 || now.Sub(b.CreatedAt) > o.OlderThan) {
			out.Protected++
		}
	}
	return out, a.apply(ctx, st, tree, out, o.DryRun, o.Vacuum)
}

// lineage is every batch, by id and by parent.
type lineage struct {
	byID     map[string]*store.Batch
	children map[string][]*store.Batch
}

func newLineage(all []store.Batch) *lineage {
	l := &lineage{byID: map[string]*store.Batch{}, children: map[string][]*store.Batch{}}
	for i := range all {
		b := &all[i]
		l.byID[b.ID] = b
		if b.ParentID != "" {
			l.children[b.ParentID] = append(l.children[b.ParentID], b)
		}
	}
	return l
}

// withDescendants adds the batches derived from ids, and theirs.
func (l *lineage) withDescendants(ids []string) []string {
	out := slices.Clone(ids)
	for i := 0; i < len(out); i++ {
		for _, c := range l.children[out[i]] {
			if !slices.Contains(out, c.ID) {
				out = append(out, c.ID)
			}
		}
	}
	return out
}

// plan decides, newest first (a derived batch before its parent), which of
// ids go and which stay, as if each went as planned.
func (a *App) plan(l *lineage, ids []string, now time.Time) *RetentionOutcome {
	bs := make([]*store.Batch, 0, len(ids))
	for _, id := range ids {
		bs = append(bs, l.byID[id])
	}
	sort.SliceStable(bs, func(i, j int) bool {
		if !bs[i].CreatedAt.Equal(bs[j].CreatedAt) {
			return bs[i].CreatedAt.After(bs[j].CreatedAt)
		}
		return bs[i].ID > bs[j].ID
	})
	out := &RetentionOutcome{Rows: store.RowCounts{}}
	gone := map[string]bool{}
	for _, b := range bs {
		d := Deletion{Batch: *b}
		var rescores []string
		for _, c := range l.children[b.ID] {
			switch {
			case gone[c.ID]:
			case c.Lineage == store.LineageRescore:
				rescores = append(rescores, c.ID)
			default:
				d.Detached = append(d.Detached, c.ID)
			}
		}
		switch {
		case b.LeaseLive && b.Owner != "" && !deadLocalOwner(b.Owner):
			d.Kept = "being run by " + b.Owner
		case b.Status == store.StatusRunning && b.Owner == "" && now.Sub(b.CreatedAt) < startingGrace:
			d.Kept = "starting (stored a moment ago, its owner not yet recorded)"
		case len(rescores) == 1:
			d.Kept = "rescored batch " + rescores[0] + " reads its checkpoints"
		case len(rescores) > 1:
			d.Kept = "rescored batches " + strings.Join(rescores, ", ") + " read its checkpoints"
		}
		if d.Kept != "" {
			d.Detached = nil
			out.Kept = append(out.Kept, d)
			continue
		}
		gone[b.ID] = true
		out.Deleted = append(out.Deleted, d)
	}
	return out
}

// refusal is the error of a delete that must keep some of the batches it
// was asked for.
func refusal(kept []Deletion) error {
	var lines []string
	running := false
	for _, d := range kept {
		lines = append(lines, fmt.Sprintf("batch %s: %s", d.Batch.ID, d.Kept))
		running = running || strings.HasPrefix(d.Kept, "being run") || strings.HasPrefix(d.Kept, "starting")
	}
	msg := "nothing deleted: " + strings.Join(lines, "; ")
	if running {
		return runtimeErr("%s; a running batch is never deleted: stop it first (`wtb cancel ID`)", msg)
	}
	return configErr("%s; delete those too (list them, or add --with-forks)", msg)
}

// vacuumAllowed refuses --vacuum while a batch runs: a VACUUM makes every
// writer wait until it has rewritten the database.
func vacuumAllowed(all []store.Batch) error {
	for _, b := range all {
		if b.LeaseLive && b.Owner != "" && !deadLocalOwner(b.Owner) {
			return runtimeErr("--vacuum rewrites the database, and writers wait until it is done: batch %s is being run by %s; run it when no batch is running", b.ID, b.Owner)
		}
	}
	return nil
}

// apply deletes what out plans (or, on a dry run, counts it), then gives the
// space back. A batch the plan let go that a transaction then refuses (it
// was taken meanwhile) moves to Kept.
func (a *App) apply(ctx context.Context, st store.Store, l *lineage, out *RetentionOutcome, dryRun, vacuum bool) error {
	out.DryRun = dryRun
	whole, err := wholePartitions(ctx, st, out.Deleted)
	if err != nil {
		return runtimeErr("%w", err)
	}
	var deleted []Deletion
	dropped := map[string]bool{} // months dropped (or to drop)
	for _, d := range out.Deleted {
		// Newest first: the first batch of a whole month met drops the
		// month, after every batch derived from its batches (always
		// newer) has gone.
		if p, ok := whole[d.Batch.ID]; ok {
			if !dropped[p.Month] {
				drop, err := a.dropPartition(ctx, st, l, p, dryRun)
				if err != nil {
					out.Deleted = deleted
					return runtimeErr("%w (deleted before it: %d batches)", err, len(deleted))
				}
				if drop != nil {
					dropped[p.Month] = true
					out.Partitions = append(out.Partitions, *drop)
					out.Rows.Add(drop.Rows)
				} else {
					for _, id := range p.Batches { // changed meanwhile: row by row
						delete(whole, id)
					}
				}
			}
			if dropped[p.Month] {
				d.Partition = p.Month
				if dryRun {
					if d.Rows, err = st.Retention().Count(ctx, d.Batch.ID); err != nil {
						return runtimeErr("%w", err)
					}
					out.Rows.Add(d.Rows)
				}
				deleted = append(deleted, d)
				continue
			}
		}
		var err error
		if dryRun {
			d.Rows, err = st.Retention().Count(ctx, d.Batch.ID)
		} else {
			opts := store.DeleteOptions{}
			if deadLocalOwner(d.Batch.Owner) {
				opts.DeadOwner = d.Batch.Owner
			}
			d.Rows, err = st.Retention().Delete(ctx, d.Batch.ID, opts)
		}
		var running *store.BatchRunningError
		var deps *store.DependentsError
		switch {
		case errors.As(err, &running):
			d.Kept, d.Detached = "being run by "+running.Owner+" (it started meanwhile)", nil
			out.Kept = append(out.Kept, d)
			continue
		case errors.As(err, &deps):
			d.Kept, d.Detached = fmt.Sprintf("rescored batches %s read its checkpoints (made meanwhile)", strings.Join(deps.Dependents, ", ")), nil
			out.Kept = append(out.Kept, d)
			continue
		case errors.Is(err, store.ErrNotFound):
			continue // deleted meanwhile by someone else
		case err != nil:
			out.Deleted = deleted
			return runtimeErr("%w (deleted before it: %d batches)", err, len(deleted))
		}
		out.Rows.Add(d.Rows)
		deleted = append(deleted, d)
	}
	sort.Slice(out.Partitions, func(i, j int) bool { return out.Partitions[i].Month < out.Partitions[j].Month })
	out.Deleted = deleted
	if dryRun || (len(deleted) == 0 && !vacuum) {
		return nil
	}
	rec, err := st.Retention().Reclaim(ctx, vacuum)
	if err != nil {
		return runtimeErr("the batches are deleted, but giving the space back failed: %w", err)
	}
	out.Reclaimed = &rec
	return nil
}

// wholePartitions finds the month partitions whose batches all go, by the
// batch ids in them: a month whose partitions can be dropped whole rather
// than deleting its rows one by one (PostgreSQL; none on SQLite). A month
// not over yet is never one: a batch starting now would write into it.
func wholePartitions(ctx context.Context, st store.Store, goes []Deletion) (map[string]store.Partition, error) {
	parts, err := st.Retention().Partitions(ctx)
	if err != nil || len(parts) == 0 {
		return nil, err
	}
	going := map[string]bool{}
	for _, d := range goes {
		going[d.Batch.ID] = true
	}
	out := map[string]store.Partition{}
	for _, p := range parts {
		all := p.Droppable && len(p.Batches) > 0
		for _, id := range p.Batches {
			all = all && going[id]
		}
		if all {
			for _, id := range p.Batches {
				out[id] = p
			}
		}
	}
	return out, nil
}

// dropPartition drops a month's partitions with its batches (a dry run
// only says so). It returns nil, and no error, when the month must go row
// by row after all: its batches changed since they were listed, one started
// running, or a rescored batch made meanwhile reads one — the row-by-row
// path then says which batch stays and why.
func (a *App) dropPartition(ctx context.Context, st store.Store, l *lineage, p store.Partition, dryRun bool) (*PartitionDrop, error) {
	drop := &PartitionDrop{Month: p.Month, Tables: p.Tables, Batches: p.Batches}
	if dryRun {
		return drop, nil
	}
	var opts store.DeleteOptions
	for _, id := range p.Batches {
		if b := l.byID[id]; b != nil && deadLocalOwner(b.Owner) {
			opts.DeadOwners = append(opts.DeadOwners, b.Owner)
		}
	}
	rows, err := st.Retention().DropPartition(ctx, p, opts)
	var running *store.BatchRunningError
	var deps *store.DependentsError
	switch {
	case errors.Is(err, store.ErrPartitionChanged), errors.As(err, &running), errors.As(err, &deps):
		return nil, nil
	case err != nil:
		return nil, err
	}
	drop.Rows = rows
	return drop, nil
}
