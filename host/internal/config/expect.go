package config

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/spec"
)

// checkExpect checks what an evaluator's expect can name before anything
// runs. A path into the case that names nothing scores every execution 0
// without a word ($.expect.label for $.expected.label), so:
//
//   - a path that starts with a name the expectation document does not have
//     can never match: an error, with the path probably meant;
//   - a path that matches none of the cases is a warning (the cases may be
//     meant to grow, and a cases file changes apart from the bench file): it
//     shows in validate and before a run, and validate --strict fails on it;
//   - a literal that reads like a path without its "$" is a warning too.
func checkExpect(ev spec.Evaluator, rng hcl.Range, cases []spec.Case, casesRead bool) hcl.Diagnostics {
	var lit any
	if json.Unmarshal(ev.Expect, &lit) != nil {
		return nil
	}
	path, ok := lit.(string)
	if ev.Type == "numeric" && !strings.HasPrefix(path, "$") {
		if _, isNumber := lit.(float64); !isNumber && !numeric(path) {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Expect is not a number",
				Detail:  fmt.Sprintf("Evaluator %q is numeric: expect must be a number, or a path into the case (\"$.expected.n\"); got %s.", ev.Name, string(ev.Expect)),
				Subject: rng.Ptr()}}
		}
	}
	if !ok {
		return nil
	}
	roots := `"expected" (the case's expected values), "input" (its input) and "case" (its id, as case.id)`
	if !strings.HasPrefix(path, "$") {
		for _, root := range eval.ExpectRoots {
			if strings.HasPrefix(path, root+".") || strings.HasPrefix(path, root+"[") {
				return hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "Expect is a literal string",
					Detail: fmt.Sprintf("Evaluator %q compares with the literal string %q. A path into the case starts with \"$\": did you mean \"$.%s\"?",
						ev.Name, path, path),
					Subject: rng.Ptr()}}
			}
		}
		return nil
	}
	check := eval.CheckExpect(path, cases)
	didYouMean := ""
	if check.Suggested != "" {
		didYouMean = fmt.Sprintf(" Did you mean %q?", check.Suggested)
	}
	switch {
	case check.BadRoot != "":
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Expect path names nothing",
			Detail: fmt.Sprintf("expect %q starts at %q, but a path in expect looks in the case: its roots are %s.%s",
				path, check.BadRoot, roots, didYouMean),
			Subject: rng.Ptr()}}
	case !casesRead || len(cases) == 0 || check.Matches > 0:
		return nil
	}
	where := ""
	if check.Missing != "" {
		where = fmt.Sprintf(" No case has %q there", check.Missing)
		if len(check.Have) > 0 {
			where += fmt.Sprintf(" (they have: %s)", strings.Join(firstN(check.Have, 12), ", "))
		}
		where += "."
	}
	return hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "Expect path matches no case",
		Detail: fmt.Sprintf("expect %q selects nothing in any of the %s, so evaluator %q would score every execution 0.%s%s",
			path, plural(len(cases), "case", "cases"), ev.Name, where, didYouMean),
		Subject: rng.Ptr()}}
}

// checkPath warns of a path into the final state that looks in the case:
// nodes never see the case's expected values, so $.expected… is in the
// state only if a node writes "expected" itself — it is the expect path
// written as the path.
func checkPath(ev spec.Evaluator, rng hcl.Range) hcl.Diagnostics {
	if ev.Type == "latency" || ev.Type == "command" {
		return nil
	}
	if !strings.HasPrefix(ev.Path, "$.expected") && !strings.HasPrefix(ev.Path, `$["expected"]`) && !strings.HasPrefix(ev.Path, "$['expected']") {
		return nil
	}
	where := "the final state"
	if ev.Node != "" {
		where = "node " + ev.Node + "'s output"
	}
	return hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "Path looks for expected values in the state",
		Detail: fmt.Sprintf("path %q is looked up in %s, which holds the case's input and what the nodes wrote; nodes never see the case's expected values. "+
			"The case's values go in expect (expect = %q); path names what the workflow produced, e.g. \"$.answer\".", ev.Path, where, ev.Path),
		Subject: rng.Ptr()}}
}

// numeric says whether s reads as a number ("3", " 2.5 "), as the numeric
// evaluator reads one.
func numeric(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil
}

func firstN(list []string, n int) []string {
	if len(list) <= n {
		return list
	}
	return append(append([]string{}, list[:n]...), "…")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
