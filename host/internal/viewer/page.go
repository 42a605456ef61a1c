package viewer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"slices"
	"strings"

	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/store"
)

// PageOptions shape the page: linked assets for the server, or everything
// inline for a report that opens from disk.
type PageOptions struct {
	Title  string
	Footer string
	// Report, when set, is embedded and the page reads it instead of /api.
	Report *ReportData
}

// Page renders the viewer's HTML.
func Page(o PageOptions) ([]byte, error) {
	shell, err := assets.ReadFile("assets/index.html")
	if err != nil {
		return nil, err
	}
	if o.Title == "" {
		o.Title = "WTB viewer"
	}
	if o.Footer == "" {
		o.Footer = "wtb view · read-only"
	}
	style := `<link rel="stylesheet" href="/assets/app.css">`
	script := `<script src="/assets/app.js"></script>`
	data := ""
	if o.Report != nil {
		css, err := assets.ReadFile("assets/app.css")
		if err != nil {
			return nil, err
		}
		js, err := assets.ReadFile("assets/app.js")
		if err != nil {
			return nil, err
		}
		// json.Marshal escapes <, > and & inside strings, so no document can
		// end the script element early.
		raw, err := json.Marshal(o.Report)
		if err != nil {
			return nil, err
		}
		style = "<style>\n" + string(css) + "</style>"
		script = "<script>\n" + strings.ReplaceAll(string(js), "</script", `<\/script`) + "</script>"
		data = `<script type="application/json" id="wtb-data">` + string(raw) + "</script>"
	}
	r := strings.NewReplacer("{{TITLE}}", html.EscapeString(o.Title), "{{FOOTER}}", html.EscapeString(o.Footer),
		"{{STYLE}}", style, "{{SCRIPT}}", script, "{{DATA}}", data)
	var out bytes.Buffer
	_, _ = r.WriteString(&out, string(shell))
	return out.Bytes(), nil
}

// ReportData is what a report embeds: the documents of one batch.
type ReportData struct {
	Leaderboard jsondoc.Leaderboard `json:"leaderboard"`
	// Executions lists every execution (up to MaxReportExecutions).
	Executions jsondoc.Executions `json:"executions"`
	// Details holds execution pages by key: failures first, then the first
	// executions of each combination, up to MaxReportDetails.
	Details map[string]jsondoc.ExecutionDetail `json:"details"`
	// Cases is the case × combination grid, every combination shown: the
	// first cases failures first, up to MaxReportCaseRuns executions and
	// MaxReportCases cases (Holds says how many of how many).
	Cases jsondoc.Cases `json:"cases"`
	// SpansCut says, by execution key and node, how many spans a node run
	// kept where the report holds only the first MaxReportSpans of them.
	SpansCut map[string]map[string]int `json:"spans_cut"`
}

// Limits of a report, so a batch of a million executions still makes a file
// a browser opens.
const (
	MaxReportExecutions = 20000
	MaxReportDetails    = 200
	MaxReportCases      = 2000
	MaxReportCaseRuns   = 10000
	ReportOutputChars   = 300
	// MaxReportSpans bounds the spans a report holds per node run (a node
	// run keeps up to 2,000, about 1 MB as JSON): the first, in tree order.
	MaxReportSpans = 500
)

// Report renders a batch as one self-contained HTML file.
func Report(ctx context.Context, st store.Store, id, version string) ([]byte, error) {
	board, err := application.Leaderboard(ctx, st, id)
	if err != nil {
		return nil, err
	}
	rec, b := board.Batch, board.Spec
	rows, total, err := application.Executions(ctx, st, rec.ID, store.ResultQuery{Limit: MaxReportExecutions})
	if err != nil {
		return nil, err
	}
	data := &ReportData{Leaderboard: jsondoc.LeaderboardOf(board), Executions: jsondoc.ExecutionsOf(rec.ID, rows, total, 0, b),
		Details: map[string]jsondoc.ExecutionDetail{}, SpansCut: map[string]map[string]int{}}
	for _, key := range detailKeys(rows) {
		v, err := application.Execution(ctx, st, rec.ID, key)
		if err != nil {
			return nil, err
		}
		d := jsondoc.ExecutionDetailOf(v)
		for i := range d.Nodes {
			if n := &d.Nodes[i]; len(n.Spans) > MaxReportSpans {
				if data.SpansCut[key] == nil {
					data.SpansCut[key] = map[string]int{}
				}
				data.SpansCut[key][n.Node] = len(n.Spans)
				n.Spans = n.Spans[:MaxReportSpans]
			}
		}
		data.Details[key] = d
	}
	// The grid holds every combination, best first, for as many cases as
	// fit, failures first; the page pages, sorts and searches them itself.
	var combos []string
	for _, c := range board.Summary.Combos {
		combos = append(combos, c.Combination)
	}
	for _, c := range b.Combinations {
		if !slices.Contains(combos, c.Name) {
			combos = append(combos, c.Name)
		}
	}
	perCase := max(1, len(combos)*max(b.Repeat, 1))
	o := application.GridOptions{Combinations: combos, Limit: min(MaxReportCases, max(1, MaxReportCaseRuns/perCase)), MaxOutput: ReportOutputChars}
	if len(combos) == 0 {
		o.Combinations = []string{}
	}
	g, err := application.GridOf(ctx, st, rec.ID, o)
	if err != nil {
		return nil, err
	}
	data.Cases = jsondoc.CasesOf(g, o)
	data.Cases.Holds = &jsondoc.CaseHolds{Cases: len(data.Cases.Cases), Total: g.Total, Order: "failures first"}
	footer := fmt.Sprintf("wtb %s · report of batch %s", version, rec.ID)
	if total > len(rows) {
		footer += fmt.Sprintf(" · lists the first %d of %d executions", len(rows), total)
	}
	return Page(PageOptions{Title: "WTB report — " + b.Name + " (" + rec.ID + ")", Footer: footer, Report: data})
}

// detailKeys picks the executions a report includes in full: every failure
// (up to the limit), then round-robin over combinations.
func detailKeys(rows []store.Result) []string {
	var keys []string
	for _, r := range rows {
		if !r.Success && len(keys) < MaxReportDetails {
			keys = append(keys, r.ExecutionKey)
		}
	}
	byCombo := map[string][]string{}
	var order []string
	for _, r := range rows {
		if r.Success {
			if _, ok := byCombo[r.Combination]; !ok {
				order = append(order, r.Combination)
			}
			byCombo[r.Combination] = append(byCombo[r.Combination], r.ExecutionKey)
		}
	}
	for i := 0; len(keys) < MaxReportDetails; i++ {
		added := false
		for _, c := range order {
			if i < len(byCombo[c]) && len(keys) < MaxReportDetails {
				keys = append(keys, byCombo[c][i])
				added = true
			}
		}
		if !added {
			break
		}
	}
	return keys
}
