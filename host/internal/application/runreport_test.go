package application

import (
	"reflect"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/sched"
)

// RunReport is the scheduler's Report as callers of this layer read it: a
// field the scheduler adds to its report and RunReport lacks would never
// reach the command line, so the two are held together here.
func TestRunReportHasEveryFieldOfTheSchedulersReport(t *testing.T) {
	ours := reflect.TypeOf(RunReport{})
	theirs := reflect.TypeOf(sched.Report{})
	for i := 0; i < theirs.NumField(); i++ {
		f := theirs.Field(i)
		if !f.IsExported() {
			continue
		}
		if _, ok := ours.FieldByName(f.Name); !ok {
			t.Errorf("sched.Report.%s has no field in application.RunReport: add it and copy it in runReportOf", f.Name)
		}
	}
}

// runReportOf copies every field: a report with each field set comes out
// with each field set.
func TestRunReportOfCopiesEveryField(t *testing.T) {
	in := sched.Report{Planned: 1, Succeeded: 2, Failed: 3, Unfinished: 4, NodeRuns: 5, CachedRuns: 6, Resumed: 7, Retries: 8,
		Cancelled: true, FailFast: true, Elapsed: time.Second, RoundTrips: 9, ModelCalls: map[string]int{"live": 1}, ReplayMisses: 10,
		LLM: sched.LLMTotals{Calls: 1}, BudgetStop: "usd", JudgeCalls: map[string]int{"live": 2}, Judge: sched.LLMTotals{Calls: 2}}
	out := reflect.ValueOf(runReportOf(in))
	for i := 0; i < out.NumField(); i++ {
		name := out.Type().Field(i).Name
		if name == "RoundTripP50" || name == "RoundTripP95" {
			continue // read from the histogram, empty here
		}
		if out.Field(i).IsZero() {
			t.Errorf("runReportOf left RunReport.%s empty", name)
		}
	}
}
