package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	neturl "net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// spansNode exports OTLP/JSON with the standard library only, as a node in
// any language can: under TRACEPARENT an agent span holding a model turn
// (model and tokens), a tool that ran (arguments and result) with an HTTP
// call inside, and a tool that failed. With "many" it sends 2,100 spans: the
// receiver keeps 2,000 and drops the rest.
const spansNode = `import json, os, sys, time, urllib.request
inp = json.load(sys.stdin)
case = inp["case"]["id"]
_, trace, parent, _ = os.environ["TRACEPARENT"].split("-")
now = time.time_ns()
n = [0]
def sid():
    n[0] += 1
    return "%016x" % (0xabc000 + n[0])
def attr(k, v):
    if isinstance(v, int):
        return {"key": k, "value": {"intValue": str(v)}}
    return {"key": k, "value": {"stringValue": v}}
def span(name, parent, start_ms, dur_ms, attrs=None, error=None):
    s = {"traceId": trace, "spanId": sid(), "parentSpanId": parent, "name": name, "kind": 1,
         "startTimeUnixNano": str(now + start_ms * 1000000), "endTimeUnixNano": str(now + (start_ms + dur_ms) * 1000000),
         "attributes": [attr(k, v) for k, v in (attrs or {}).items()], "status": {"code": 1}}
    if error:
        s["status"] = {"code": 2, "message": error}
    return s
agent = span("agent", parent, 0, 100)
spans = [agent]
if case == "many":
    for i in range(2099):
        spans.append(span("step %d" % i, agent["spanId"], i % 100, 1))
else:
    spans.append(span("chat gpt-4o-mini", agent["spanId"], 2, 30, {"gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 7}))
    tool = span("execute_tool lookup", agent["spanId"], 35, 40, {"gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup", "gen_ai.tool.call.arguments": json.dumps({"city": "Paris"}), "gen_ai.tool.call.result": "sunny"})
    spans.append(tool)
    spans.append(span("GET /weather", tool["spanId"], 40, 20, {"http.request.method": "GET"}))
    spans.append(span("execute_tool search", agent["spanId"], 80, 15, {"gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "search", "gen_ai.tool.call.arguments": json.dumps({"q": "weather"})}, error="search backend timed out"))
body = {"resourceSpans": [{"resource": {"attributes": [attr("service.name", "agent")]}, "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]}]}
req = urllib.request.Request(os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
print(json.dumps({"done": case}))
`

func (e *env) spansBench() {
	e.t.Helper()
	e.write("spans.py", spansNode)
	e.write("bench.hcl", `
runner "pool" {
  plugin = "pool"
}
workflow "w" {
  node "agent" {
    command = ["python3", "spans.py"]
  }
}
batch_test "w" {
  workflow = workflow.w
  runner   = runner.pool
  case "small" { input = {} }
  case "many" { input = {} }
}
`)
}

// The viewer draws each node run's spans (real ones, exported over OTLP by
// a node and stored by a run) as a waterfall: nested by parent, errors
// marked with their message, model and tokens, tools with their arguments,
// attributes on click; the tool calls as a list; a node run with 2,000 spans
// a page at a time, saying how many were dropped; the report the same.
func TestViewerDrawsSpans(t *testing.T) {
	e := newEnv(t)
	e.spansBench()
	id := batchID(t, e.mustRun("run", "bench.hcl", "--no-progress").stderr)
	key := allSucceeded(t, e, e.store(), id, 2)
	url := startViewer(t, e)
	ctx := browser(t)
	shots := artifacts(t)
	execURL := func(base, k string) string {
		return base + "#/execution/" + id + "/" + strings.ReplaceAll(strings.ReplaceAll(k, "/", "%2F"), "=", "%3D")
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(execURL(url+"/", key["small"])), chromedp.WaitVisible(`[data-testid=span-row]`)); err != nil {
		t.Fatal(err)
	}
	checkSmallTrace(t, ctx, "view")
	// The node panel says how many and leads to them.
	nodeSpans, _ := texts(ctx, `[data-testid=node-spans]`)
	if len(nodeSpans) != 1 || nodeSpans[0] != "6 spans, 2 tool calls — show its waterfall" {
		t.Errorf("node panel: %q", nodeSpans)
	}
	// A span's attributes open on click.
	err := chromedp.Do(ctx,
		chromedp.Click(`[data-testid=trace-run] [data-testid=span-row]:nth-child(4) > summary`),
		chromedp.WaitVisible(`[data-testid=span-row][open] [data-testid=span-attrs]`))
	if err != nil {
		t.Fatal(err)
	}
	attrs, _ := texts(ctx, `[data-testid=span-row][open] [data-testid=span-attrs]`)
	if len(attrs) != 1 || !strings.Contains(attrs[0], "gen_ai.tool.call.arguments") || !strings.Contains(attrs[0], `{"city": "Paris"}`) {
		t.Errorf("the tool span's attributes: %q", attrs)
	}
	// Folding the tool's subtree hides its HTTP call.
	err = chromedp.Do(ctx, chromedp.Click(`[data-testid=span-row]:nth-child(4) [data-testid=span-fold]`))
	names, _ := texts(ctx, `[data-testid=trace-run] [data-testid=span-name]`)
	if err != nil || strings.Contains(strings.Join(names, ","), "GET /weather") {
		t.Errorf("folded the tool's subtree: %v %v", err, names)
	}
	screenshot(t, ctx, shots, "viewer-spans.png")

	// 2,100 spans sent: 2,000 kept (the node run's own span added), drawn
	// 200 rows at a time.
	if err := chromedp.Do(ctx, chromedp.Navigate(execURL(url+"/", key["many"])), chromedp.WaitVisible(`[data-testid=span-more]`)); err != nil {
		t.Fatal(err)
	}
	took, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`lastRenderMs`))
	t.Logf("the execution page of a node run with 2,001 spans rendered in %.0f ms (fetch included)", took)
	rows, _ := texts(ctx, `[data-testid=span-row]`)
	count, _ := texts(ctx, `[data-testid=span-count]`)
	dropped, _ := texts(ctx, `[data-testid=spans-dropped]`)
	if len(rows) != 200 || len(count) != 1 || count[0] != "200 of 2001 spans shown" || len(dropped) != 1 || !strings.HasPrefix(dropped[0], "100 spans dropped") {
		t.Errorf("2,001 spans: %d rows, count %q, dropped %q", len(rows), count, dropped)
	}
	// The API sent the first 200 of them; "show more" fetches the next page
	// of the node run's spans from the spans endpoint.
	var page struct {
		Nodes []struct {
			Spans        []json.RawMessage `json:"spans"`
			SpansTotal   int               `json:"spans_total"`
			SpansDropped int               `json:"spans_dropped"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, url+"/api/batches/"+id+"/executions/"+key["many"])), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Nodes) != 1 || len(page.Nodes[0].Spans) != 200 || page.Nodes[0].SpansTotal != 2001 || page.Nodes[0].SpansDropped != 100 {
		for _, n := range page.Nodes {
			t.Errorf("the execution API: node run with %d spans, spans_total %d, %d dropped; want 200 of 2001, 100 dropped", len(n.Spans), n.SpansTotal, n.SpansDropped)
		}
	}
	fetched := func() int {
		n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`performance.getEntriesByType('resource').filter(e => e.name.includes('/spans?')).length`))
		return n
	}
	if n := fetched(); n != 0 {
		t.Errorf("%d span pages fetched before asking for more", n)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`[data-testid=span-more]`), chromedp.WaitVisible(`[data-testid=span-row]:nth-child(400)`)); err != nil {
		t.Fatal(err)
	}
	rows, _ = texts(ctx, `[data-testid=span-row]`)
	count, _ = texts(ctx, `[data-testid=span-count]`)
	dropped, _ = texts(ctx, `[data-testid=spans-dropped]`)
	if len(rows) != 400 || fmt.Sprint(count) != "[400 of 2001 spans shown]" || fetched() != 1 || len(dropped) != 1 {
		t.Errorf("after show more: %d rows, count %q, %d span pages fetched, dropped %q; want 400, 1 page", len(rows), count, fetched(), dropped)
	}
	// Rows 201–400 are the spans endpoint's second page, in its order.
	var second struct {
		Kind  string `json:"kind"`
		Spans []struct {
			Name string `json:"name"`
		} `json:"spans"`
		Total      int  `json:"total"`
		NextOffset *int `json:"next_offset"`
	}
	q := "/spans?execution=" + neturl.QueryEscape(key["many"]) + "&node=agent&offset=200&limit=200"
	if err := json.Unmarshal([]byte(httpGet(t, url+"/api/batches/"+id+q)), &second); err != nil {
		t.Fatal(err)
	}
	names, _ = texts(ctx, `[data-testid=trace-run] [data-testid=span-name]`)
	if second.Kind != "spans" || len(second.Spans) != 200 || second.Total != 2001 || second.NextOffset == nil || *second.NextOffset != 400 || len(names) != 400 {
		t.Fatalf("the spans endpoint: %s %d spans of %d, next %v; %d rows drawn", second.Kind, len(second.Spans), second.Total, second.NextOffset, len(names))
	}
	for i, sp := range second.Spans {
		if names[200+i] != sp.Name {
			t.Fatalf("row %d is %q, the second page's span %d %q", 201+i, names[200+i], i, sp.Name)
		}
	}
	// Folds hold across pages: the agent's subtree folds and unfolds with
	// the fetched rows in it.
	if err := chromedp.Do(ctx, chromedp.Click(`[data-testid=span-row]:nth-child(2) [data-testid=span-fold]`)); err != nil {
		t.Fatal(err)
	}
	rows, _ = texts(ctx, `[data-testid=span-row]`)
	count, _ = texts(ctx, `[data-testid=span-count]`)
	if len(rows) != 2 || fmt.Sprint(count) != "[2 of 2001 spans shown (398 in folded subtrees)]" {
		t.Errorf("folded: %d rows, count %q", len(rows), count)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`[data-testid=span-row]:nth-child(2) [data-testid=span-fold]`)); err != nil {
		t.Fatal(err)
	}
	if rows, _ = texts(ctx, `[data-testid=span-row]`); len(rows) != 400 || fetched() != 1 {
		t.Errorf("unfolded: %d rows, %d pages fetched; want 400, 1", len(rows), fetched())
	}

	// The report: the same page on disk.
	e.mustRun("report", id, "--html", "out/report.html")
	if err := chromedp.Do(ctx, chromedp.Navigate(execURL("file://"+e.dir+"/out/report.html", key["small"])), chromedp.WaitVisible(`[data-testid=span-row]`)); err != nil {
		t.Fatal(err)
	}
	checkSmallTrace(t, ctx, "report")
	screenshot(t, ctx, shots, "report-spans.png")
	// It holds the first 500 spans of a node run, and says so.
	if err := chromedp.Do(ctx, chromedp.Navigate(execURL("file://"+e.dir+"/out/report.html", key["many"])), chromedp.WaitVisible(`[data-testid=spans-cut]`)); err != nil {
		t.Fatal(err)
	}
	cut, _ := texts(ctx, `[data-testid=spans-cut]`)
	count, _ = texts(ctx, `[data-testid=span-count]`)
	if len(cut) != 1 || !strings.HasPrefix(cut[0], "This report holds the first 500 of the node run’s 2001 spans") || len(count) != 1 || count[0] != "200 of 500 spans shown" {
		t.Errorf("report of 2,001 spans: %q %q", cut, count)
	}
}

func checkSmallTrace(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid=trace-run] [data-testid=span-row]')].map(r =>
		r.dataset.depth + ' ' + r.querySelector('[data-testid=span-name]').textContent + (r.dataset.status === 'error' ? ' ✗' : ''))`))
	want := "0 agent,1 agent,2 chat gpt-4o-mini,2 execute_tool lookup,3 GET /weather,2 execute_tool search ✗"
	if err != nil || strings.Join(rows, ",") != want {
		t.Errorf("%s: span tree %v %v\nwant %s", where, err, rows, want)
	}
	errs, _ := texts(ctx, `[data-testid=span-row][data-status=error] [data-testid=span-error]`)
	marks, _ := texts(ctx, `[data-testid=span-row][data-status=error] [data-testid=span-error-mark]`)
	if len(errs) != 1 || errs[0] != "search backend timed out" || len(marks) != 1 {
		t.Errorf("%s: error marking %q %q", where, errs, marks)
	}
	model, _ := texts(ctx, `[data-testid=trace-run] [data-testid=span-model]`)
	tokens, _ := texts(ctx, `[data-testid=trace-run] [data-testid=span-tokens]`)
	tool, _ := texts(ctx, `[data-testid=trace-run] [data-testid=span-tool]`)
	if fmt.Sprint(model) != "[gpt-4o-mini]" || fmt.Sprint(tokens) != "[12 → 7 tokens]" || len(tool) != 2 || tool[0] != `tool lookup {"city":"Paris"}` {
		t.Errorf("%s: model %q tokens %q tools %q", where, model, tokens, tool)
	}
	// A child's bar starts within its parent's.
	lefts, _ := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`[...document.querySelectorAll('[data-testid=trace-run] .span-bar')].map(b => parseFloat(b.style.left))`))
	if len(lefts) != 6 || !(lefts[4] > lefts[3] && lefts[3] > lefts[2] && lefts[5] > lefts[4]) {
		t.Errorf("%s: bars start at %v%%", where, lefts)
	}
	calls, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid=execution-tools] [data-testid=tool-call]')].map(r =>
		[...r.querySelectorAll('td')].map(c => c.textContent).join(' | '))`))
	wantCalls := `1 | agent | lookup | {"city":"Paris"} | sunny | 40 ms,2 | agent | search | {"q":"weather"} | ✗ search backend timed out | 15 ms`
	if err != nil || strings.Join(calls, ",") != wantCalls {
		t.Errorf("%s: tool calls %v %q\nwant %s", where, err, calls, wantCalls)
	}
	links, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid=trace] a').length`))
	if links != 0 {
		t.Errorf("%s: the spans section has %d links", where, links)
	}
}
