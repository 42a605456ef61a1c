package judge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/wtbench/wtb/host/internal/spec"
)

// prompt is what the judge is asked: a system prompt saying how to answer,
// and a user message with the rubric, the case and the output.
type prompt struct{ system, user string }

// buildPrompt writes the judge's prompt. It is deterministic (sorted keys,
// fixed wording): the same judgement is the same request, which replay
// matches.
func buildPrompt(ev spec.Evaluator, subject any, c spec.Case) prompt {
	jc := ev.Judge
	var sys strings.Builder
	sys.WriteString("You are an evaluator. You grade the output of a workflow for one test case by the rubric you are given. ")
	sys.WriteString("Think about the rubric, then answer with one JSON object and nothing else:\n")
	if len(jc.Choices) > 0 {
		labels := choiceLabels(jc)
		fmt.Fprintf(&sys, `{"reasoning": "<why, in a few sentences>", "choice": "<one of %s>"}`, strings.Join(labels, ", "))
		sys.WriteString("\nThe choice is exactly one of the labels: " + strings.Join(labels, ", ") + ".")
	} else {
		fmt.Fprintf(&sys, `{"reasoning": "<why, in a few sentences>", "score": <a number from %s to %s>}`, num(jc.Scale[0]), num(jc.Scale[1]))
		fmt.Fprintf(&sys, "\nThe score is on a scale from %s (worst) to %s (best).", num(jc.Scale[0]), num(jc.Scale[1]))
	}
	var u strings.Builder
	u.WriteString("Rubric:\n" + strings.TrimSpace(jc.Rubric) + "\n\n")
	u.WriteString("Case input:\n" + indent(c.Input) + "\n\n")
	if len(c.Expected) > 0 && string(c.Expected) != "null" {
		u.WriteString("Expected:\n" + indent(c.Expected) + "\n\n")
	}
	what := "Output to judge"
	if ev.Node != "" {
		what = "Output of node " + ev.Node + " to judge"
	}
	if ev.Path != "" && ev.Path != "$" {
		what += " (" + ev.Path + ")"
	}
	u.WriteString(what + ":\n" + text(subject) + "\n")
	return prompt{system: sys.String(), user: u.String()}
}

// choiceLabels are the choices' labels, in order: best score first, then by
// name.
func choiceLabels(jc *spec.Judge) []string {
	labels := make([]string, 0, len(jc.Choices))
	for l := range jc.Choices {
		labels = append(labels, l)
	}
	sort.Slice(labels, func(i, k int) bool {
		a, b := jc.Choices[labels[i]], jc.Choices[labels[k]]
		if a != b {
			return a > b
		}
		return labels[i] < labels[k]
	})
	return labels
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func indent(raw json.RawMessage) string {
	var b bytes.Buffer
	if len(raw) == 0 {
		return "{}"
	}
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

// text is what is judged, as the judge reads it: a string as it is, anything
// else as indented JSON.
func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// maxTokens bounds the judge's answer: a reasoning and a grade.
const maxTokens = 1024

// request is the HTTP request of a judgement, in the upstream's format.
func request(jc *spec.Judge, p prompt) (path string, body []byte, header http.Header) {
	header = http.Header{"Content-Type": {"application/json"}}
	if jc.Format == "anthropic" {
		header.Set("anthropic-version", "2023-06-01")
		body, _ = json.Marshal(map[string]any{
			"model": jc.Model, "max_tokens": maxTokens, "temperature": jc.Temperature, "system": p.system,
			"messages": []map[string]any{{"role": "user", "content": p.user}},
		})
		return "/v1/messages", body, header
	}
	body, _ = json.Marshal(map[string]any{
		"model": jc.Model, "max_tokens": maxTokens, "temperature": jc.Temperature,
		"messages": []map[string]any{{"role": "system", "content": p.system}, {"role": "user", "content": p.user}},
	})
	return "/chat/completions", body, header
}

// responseText is the model's text in a response of the format.
func responseText(format string, data []byte) (string, error) {
	if format == "anthropic" {
		var r struct {
			Content []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"content"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			return "", fmt.Errorf("not an Anthropic messages response: %v", err)
		}
		var parts []string
		for _, c := range r.Content {
			if c.Type == "text" {
				parts = append(parts, c.Text)
			}
		}
		if len(parts) == 0 {
			return "", fmt.Errorf("no text in the response: %s", preview(string(data), 200))
		}
		return strings.Join(parts, ""), nil
	}
	var r struct {
		Choices []struct {
			Message struct {
				Content *string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return "", fmt.Errorf("not an OpenAI chat completion: %v", err)
	}
	if len(r.Choices) == 0 || r.Choices[0].Message.Content == nil {
		return "", fmt.Errorf("no message content in the response: %s", preview(string(data), 200))
	}
	return *r.Choices[0].Message.Content, nil
}

// maxReasoning bounds the reasoning kept as the evaluator's note.
const maxReasoning = 4000

// parseAnswer reads the judge's grade from its text: a JSON object with
// "score" (on the scale) or "choice" (one of the labels) and "reasoning",
// alone or wrapped in prose or a code fence. The score comes back normalised
// to 0..1.
func parseAnswer(text string, jc *spec.Judge) (float64, string, error) {
	want := "score"
	if len(jc.Choices) > 0 {
		want = "choice"
	}
	obj, ok := findObject(text, want)
	if !ok {
		return 0, "", fmt.Errorf("the judge's answer holds no JSON object with %q, so it cannot be graded: %q", want, preview(text, 300))
	}
	var reasoning string
	if r, ok := obj["reasoning"]; ok {
		if s, ok := r.(string); ok {
			reasoning = s
		} else {
			b, _ := json.Marshal(r)
			reasoning = string(b)
		}
	}
	reasoning = preview(reasoning, maxReasoning)
	if want == "choice" {
		got := strings.TrimSpace(fmt.Sprint(obj["choice"]))
		for _, l := range choiceLabels(jc) {
			if l == got {
				return jc.Choices[l], reasoning, nil
			}
		}
		for _, l := range choiceLabels(jc) {
			if strings.EqualFold(l, got) {
				return jc.Choices[l], reasoning, nil
			}
		}
		return 0, reasoning, fmt.Errorf("the judge chose %q, which is none of %s", got, strings.Join(choiceLabels(jc), ", "))
	}
	var s float64
	switch v := obj["score"].(type) {
	case float64:
		s = v
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, reasoning, fmt.Errorf("the judge's score %q is not a number", v)
		}
		s = f
	default:
		return 0, reasoning, fmt.Errorf("the judge's score %v is not a number", v)
	}
	lo, hi := jc.Scale[0], jc.Scale[1]
	if math.IsNaN(s) || s < lo || s > hi {
		return 0, reasoning, fmt.Errorf("the judge's score %s is outside the scale %s to %s", num(s), num(lo), num(hi))
	}
	return (s - lo) / (hi - lo), reasoning, nil
}

// findObject finds the first JSON object in text that has the key: the whole
// text, or one inside prose or a code fence.
func findObject(text, key string) (map[string]any, bool) {
	for i := 0; i < len(text); i++ {
		if text[i] != '{' {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(text[i:]))
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			continue
		}
		if _, ok := obj[key]; ok {
			return obj, true
		}
	}
	return nil, false
}
