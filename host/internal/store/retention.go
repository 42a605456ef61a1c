package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// RowCounts are a batch's rows in each table that holds rows of batches, by
// table name. Every table of the schema with a batch_test_id column is one
// (results, checkpoints, the audit trail, model calls, and any table a later
// migration adds), so a deletion never leaves a row of a deleted batch
// behind.
type RowCounts map[string]int64

// Add adds o's counts to c.
func (c RowCounts) Add(o RowCounts) {
	for t, n := range o {
		c[t] += n
	}
}

// Tables lists the tables c counts, in the order a user reads them (the
// known ones first).
func (c RowCounts) Tables() []string {
	rank := func(t string) int {
		for i, k := range knownTables {
			if k.table == t {
				return i
			}
		}
		return len(knownTables)
	}
	var out []string
	for t := range c {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if ri, rj := rank(out[i]), rank(out[j]); ri != rj {
			return ri < rj
		}
		return out[i] < out[j]
	})
	return out
}

// String is "120 results, 240 checkpoints, 12 audit entries, 0 model-call
// recordings".
func (c RowCounts) String() string {
	var parts []string
	for _, t := range c.Tables() {
		parts = append(parts, fmt.Sprintf("%d %s", c[t], RowsName(t, c[t])))
	}
	return strings.Join(parts, ", ")
}

var knownTables = []struct{ table, one, many string }{
	{Results.Name, "result", "results"},
	{Checkpoints.Name, "checkpoint", "checkpoints"},
	{Audit.Name, "audit entry", "audit entries"},
	{ModelCalls.Name, "model-call recording", "model-call recordings"},
	{Spans.Name, "node run's spans", "node runs' spans"},
}

// RowsName names n rows of table for a user ("results", "audit entry"); a
// table this version does not know by name is named as it is ("rows of
// wtb_x").
func RowsName(table string, n int64) string {
	for _, k := range knownTables {
		if k.table == table {
			if n == 1 {
				return k.one
			}
			return k.many
		}
	}
	if n == 1 {
		return "row of " + table
	}
	return "rows of " + table
}

// DeleteOptions qualify a deletion.
type DeleteOptions struct {
	// DeadOwner is an owner known to be gone (a wtb process on this machine
	// that exited without releasing its lease): its lease, though still live
	// in the database, does not protect the batch.
	DeadOwner string
	// DeadOwners are the owners known to be gone among the batches of a
	// partition (DropPartition).
	DeadOwners []string
}

// Partition is the part of the partitioned tables (PostgreSQL: results and
// checkpoints) that holds the rows of the batches started in one month.
type Partition struct {
	// Month is YYYYMM.
	Month string
	// Tables are the partitions' own tables.
	Tables []string
	// Batches are the batches whose rows it holds.
	Batches []string
	// Droppable says the month is over: no batch started later writes
	// into it, so it may be dropped once its batches all go.
	Droppable bool
}

// ErrPartitionChanged says a partition no longer holds the batches a
// retention plan saw (a batch was added or deleted meanwhile), or its month
// is not over: its batches are deleted row by row instead.
var ErrPartitionChanged = errors.New("the partition's batches changed since they were listed")

// BatchRunningError refuses to delete a batch whose owner's lease is live.
type BatchRunningError struct {
	Batch, Owner string
}

func (e *BatchRunningError) Error() string {
	return fmt.Sprintf("batch %s is being run by %s", e.Batch, e.Owner)
}

// DependentsError refuses to delete a batch that rescored batches read:
// a rescored batch holds no checkpoints of its own, its results name its
// parent's.
type DependentsError struct {
	Batch      string
	Dependents []string
}

func (e *DependentsError) Error() string {
	return fmt.Sprintf("batch %s has rescored batches that read its checkpoints: %s", e.Batch, strings.Join(e.Dependents, ", "))
}

// Reclaimed says what giving the space of deleted rows back did.
type Reclaimed struct {
	// Before and After are the database's size on disk before and after,
	// in bytes (SQLite: the file and its write-ahead log; PostgreSQL: the
	// database).
	Before, After int64
	// Free is what stays free inside the database for later rows, in bytes.
	Free int64
	// Note says what the backend did, or what would give more back.
	Note string
}

// RetentionRepository deletes batches with everything that belongs to them.
type RetentionRepository interface {
	// All lists every batch, oldest first, without spec, summary or
	// decisions (what retention decides on).
	All(ctx context.Context) ([]Batch, error)
	// Count counts a batch's rows in every table that holds rows of batches.
	Count(ctx context.Context, id string) (RowCounts, error)
	// Delete removes a batch and its rows in every table, in one
	// transaction, and returns what it removed. It refuses a batch whose
	// lease is live (*BatchRunningError; see DeleteOptions.DeadOwner) and
	// one whose checkpoints rescored batches read (*DependentsError); the
	// forks of the batch, which hold copies of the checkpoints they reuse,
	// are detached (their parent becomes none; lineage and fork node stay).
	Delete(ctx context.Context, id string, o DeleteOptions) (RowCounts, error)
	// Reclaim gives the space deleted rows held back to the file system as
	// far as the backend can without stopping other clients. vacuum asks a
	// SQLite database that predates incremental auto-vacuum to be rewritten
	// once (VACUUM: writers wait for it) and switched to it.
	Reclaim(ctx context.Context, vacuum bool) (Reclaimed, error)
	// Partitions lists the month partitions, oldest first, with their
	// batches (none on a backend without partitions).
	Partitions(ctx context.Context) ([]Partition, error)
	// DropPartition deletes the batches of a partition, which must be
	// exactly p.Batches, by dropping its tables; their rows in the other
	// tables are deleted, their forks that stay detached, as Delete does.
	// It refuses as Delete does, and with ErrPartitionChanged.
	DropPartition(ctx context.Context, p Partition, o DeleteOptions) (RowCounts, error)
}
