// Command qa is the node program of the quickstart workflow: a tiny, fully
// deterministic question-answering pipeline. Each subcommand is one workflow
// node: it reads {state, params, case, node, variant} as JSON on stdin and
// prints a JSON object that is merged into the state — once, or once per line
// as a persistent worker (sdk/node does both).
//
//	qa retrieve   params {mode: "keyword"|"bm25", k}   → {passages, _metrics}
//	qa answer     params {style: "terse"|"verbose"}    → {answer}
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"unicode"

	"github.com/wtbench/wtb/sdk/executor"
	"github.com/wtbench/wtb/sdk/node"
)

// corpus is the knowledge base the retriever searches. Some documents share
// words with the questions without answering them, so a naive keyword match
// picks the wrong passage more often than BM25 does.
var corpus = []string{
	"What is the capital of a company? It is the money that the owners of the company invested.",
	"Paris is the capital and largest city of France.",
	"Berlin is the capital of Germany and its most populous city.",
	"Canberra is the capital city of Australia.",
	"Ottawa is the capital of Canada.",
	"Capital letters start every sentence in English; the capital city of a country is often its largest.",
	"The Nile is the longest river in Africa.",
	"The Amazon is the largest river by discharge of water in the world.",
	"Everest is the highest mountain above sea level.",
	"The Pacific is the largest and deepest ocean on Earth.",
	"Mercury is the smallest planet in the Solar System.",
	"Jupiter is the largest planet in the Solar System.",
	"A river is a natural flowing watercourse; the longest rivers cross several countries.",
	"The highest mountain in Africa is Kilimanjaro.",
}

type input struct {
	State  map[string]any  `json:"state"`
	Params json.RawMessage `json:"params"`
}

func main() {
	if len(os.Args) != 2 || (os.Args[1] != "retrieve" && os.Args[1] != "answer") {
		fmt.Fprintln(os.Stderr, "usage: qa retrieve|answer  (input JSON on stdin; runs as a persistent worker when WTB_WORKER=1)")
		os.Exit(2)
	}
	step := map[string]func(input) (map[string]any, error){"retrieve": retrieve, "answer": answer}[os.Args[1]]
	// node.Serve makes the same program a one-shot node or a persistent worker.
	node.Serve(func(_ context.Context, in *executor.NodeInput) (map[string]any, error) {
		state, err := in.StateMap()
		if err != nil {
			return nil, fmt.Errorf("qa: reading the state: %w", err)
		}
		return step(input{State: state, Params: in.Params})
	})
}

func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

var stop = map[string]bool{"the": true, "is": true, "of": true, "a": true, "what": true, "which": true, "in": true, "on": true, "its": true, "and": true}

func retrieve(in input) (map[string]any, error) {
	var p struct {
		Mode string `json:"mode"`
		K    int    `json:"k"`
	}
	if err := json.Unmarshal(in.Params, &p); err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	if p.K <= 0 {
		p.K = 2
	}
	q, _ := in.State["question"].(string)
	if q == "" {
		return nil, fmt.Errorf("the state has no question")
	}
	fmt.Fprintf(os.Stderr, "retrieving with %s for %q\n", p.Mode, q)
	type scored struct {
		doc   string
		score float64
	}
	var ranked []scored
	qt := tokens(q)
	for _, d := range corpus {
		var s float64
		switch p.Mode {
		case "keyword":
			s = keywordScore(qt, d)
		case "bm25":
			s = bm25(qt, d)
		default:
			return nil, fmt.Errorf("unknown retrieval mode %q", p.Mode)
		}
		ranked = append(ranked, scored{d, s})
	}
	sort.SliceStable(ranked, func(i, j int) bool { return ranked[i].score > ranked[j].score })
	var passages []string
	for _, r := range ranked[:p.K] {
		passages = append(passages, r.doc)
	}
	return map[string]any{"passages": passages, "_metrics": map[string]any{"top_score": ranked[0].score}}, nil
}

// keywordScore counts question words in the document, stop words included.
func keywordScore(q []string, doc string) float64 {
	dt := map[string]bool{}
	for _, t := range tokens(doc) {
		dt[t] = true
	}
	var s float64
	for _, t := range q {
		if dt[t] {
			s++
		}
	}
	return s
}

// bm25 scores a document with Okapi BM25 over the corpus, ignoring stop words.
func bm25(q []string, doc string) float64 {
	const k1, b = 1.2, 0.75
	var avg float64
	df := map[string]int{}
	for _, d := range corpus {
		ts := tokens(d)
		avg += float64(len(ts))
		seen := map[string]bool{}
		for _, t := range ts {
			if !seen[t] {
				df[t]++
				seen[t] = true
			}
		}
	}
	avg /= float64(len(corpus))
	dt := tokens(doc)
	tf := map[string]int{}
	for _, t := range dt {
		tf[t]++
	}
	var s float64
	n := float64(len(corpus))
	for _, t := range q {
		if stop[t] || tf[t] == 0 {
			continue
		}
		idf := math.Log(1 + (n-float64(df[t])+0.5)/(float64(df[t])+0.5))
		f := float64(tf[t])
		s += idf * f * (k1 + 1) / (f + k1*(1-b+b*float64(len(dt))/avg))
	}
	return s
}

func answer(in input) (map[string]any, error) {
	var p struct {
		Style string `json:"style"`
	}
	if err := json.Unmarshal(in.Params, &p); err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	raw, _ := in.State["passages"].([]any)
	if len(raw) == 0 {
		return nil, fmt.Errorf("the state has no passages; run retrieve first")
	}
	top, _ := raw[0].(string)
	switch p.Style {
	case "verbose":
		return map[string]any{"answer": top}, nil
	case "terse":
		// The subject of "X is the ...": the words before " is ".
		subject := top
		if i := strings.Index(top, " is "); i > 0 {
			subject = top[:i]
		}
		subject = strings.TrimPrefix(subject, "The ")
		return map[string]any{"answer": subject}, nil
	}
	return nil, fmt.Errorf("unknown answer style %q", p.Style)
}
