package gateway

import (
	"bytes"
	"encoding/json"

	"github.com/wtbench/wtb/sdk"
)

// Usage is the SDK's: a call's tokens by kind, the kinds disjoint.
type Usage = sdk.Usage

// ParseUsage reads the usage block of a response in any of the wire formats
// the gateway knows — OpenAI chat completions and Responses, Anthropic
// messages, Gemini generateContent — whole or streamed (server-sent events:
// the last usage seen wins, and Anthropic's message_start input and
// message_delta output are added up).
func ParseUsage(body []byte, chunks [][]byte) Usage {
	if len(chunks) == 0 {
		return parseWhole(body)
	}
	var sc usageScanner
	for _, c := range chunks {
		sc.write(c)
	}
	return sc.usage()
}

func parseWhole(body []byte) Usage {
	var doc map[string]json.RawMessage
	if json.Unmarshal(bytes.TrimSpace(body), &doc) != nil {
		return Usage{}
	}
	return usageOf(doc)
}

// maxUsageLine bounds the partial line a usageScanner keeps: an event longer
// than that is not read for usage (usage blocks are small).
const maxUsageLine = 1 << 20

// usageScanner reads the usage of a stream as it passes, a line at a time,
// keeping no more than the line it is in.
type usageScanner struct {
	u       Usage
	pending []byte
	skip    bool // the current line passed maxUsageLine
}

func (s *usageScanner) write(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if !s.skip {
				if len(s.pending)+len(p) > maxUsageLine {
					s.skip, s.pending = true, s.pending[:0]
				} else {
					s.pending = append(s.pending, p...)
				}
			}
			return
		}
		if !s.skip {
			s.pending = append(s.pending, p[:i]...)
			s.line(s.pending)
		}
		s.pending, s.skip = s.pending[:0], false
		p = p[i+1:]
	}
}

func (s *usageScanner) line(line []byte) {
	line = bytes.TrimSpace(line)
	payload, ok := bytes.CutPrefix(line, []byte("data:"))
	if !ok {
		// NDJSON streams carry the objects themselves.
		if len(line) == 0 || line[0] != '{' {
			return
		}
		payload = line
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(bytes.TrimSpace(payload), &doc) != nil {
		return
	}
	s.u = mergeStreamed(s.u, doc)
}

func (s *usageScanner) usage() Usage {
	if len(s.pending) > 0 && !s.skip {
		s.line(s.pending)
		s.pending = s.pending[:0]
	}
	return s.u
}

// mergeStreamed folds one event of a stream into the usage so far.
func mergeStreamed(u Usage, doc map[string]json.RawMessage) Usage {
	var kind string
	_ = json.Unmarshal(doc["type"], &kind)
	switch kind {
	case "message_start": // Anthropic: input (and cache) counts up front
		var m struct {
			Message map[string]json.RawMessage `json:"message"`
		}
		raw, _ := json.Marshal(doc)
		if json.Unmarshal(raw, &m) == nil && m.Message != nil {
			start := usageOf(m.Message)
			if start.Reported {
				u.Input, u.CacheRead, u.CacheWrite, u.Reported = start.Input, start.CacheRead, start.CacheWrite, true
				u.Output = max(u.Output, start.Output)
			}
		}
		return u
	case "message_delta": // Anthropic: the output count so far
		if d := usageOf(doc); d.Reported {
			u.Output, u.Reported = d.Output, true
			if d.Input > 0 {
				u.Input = d.Input
			}
		}
		return u
	case "response.completed": // OpenAI Responses: the whole response at the end
		var r struct {
			Response map[string]json.RawMessage `json:"response"`
		}
		raw, _ := json.Marshal(doc)
		if json.Unmarshal(raw, &r) == nil && r.Response != nil {
			if d := usageOf(r.Response); d.Reported {
				return d
			}
		}
		return u
	}
	if d := usageOf(doc); d.Reported {
		return d
	}
	return u
}

// usageOf reads the usage of one response object.
func usageOf(doc map[string]json.RawMessage) Usage {
	if raw, ok := doc["usageMetadata"]; ok { // Gemini
		var g struct {
			Prompt    int64 `json:"promptTokenCount"`
			Output    int64 `json:"candidatesTokenCount"`
			Cached    int64 `json:"cachedContentTokenCount"`
			Reasoning int64 `json:"thoughtsTokenCount"`
		}
		if json.Unmarshal(raw, &g) != nil {
			return Usage{}
		}
		return Usage{Input: g.Prompt - g.Cached, CacheRead: g.Cached, Output: g.Output, Reasoning: g.Reasoning, Reported: true}
	}
	raw, ok := doc["usage"]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return Usage{}
	}
	var x struct {
		// OpenAI chat completions.
		Prompt     *int64 `json:"prompt_tokens"`
		Completion *int64 `json:"completion_tokens"`
		PromptDet  struct {
			Cached int64 `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
		CompletionDet struct {
			Reasoning int64 `json:"reasoning_tokens"`
		} `json:"completion_tokens_details"`
		// OpenAI Responses and Anthropic messages.
		Input    *int64 `json:"input_tokens"`
		Output   *int64 `json:"output_tokens"`
		InputDet struct {
			Cached int64 `json:"cached_tokens"`
		} `json:"input_tokens_details"`
		OutputDet struct {
			Reasoning int64 `json:"reasoning_tokens"`
		} `json:"output_tokens_details"`
		// Anthropic's prompt caching.
		CacheRead  int64 `json:"cache_read_input_tokens"`
		CacheWrite int64 `json:"cache_creation_input_tokens"`
	}
	if json.Unmarshal(raw, &x) != nil {
		return Usage{}
	}
	switch {
	case x.Prompt != nil || x.Completion != nil:
		// OpenAI counts cached tokens inside prompt_tokens, and reasoning
		// inside completion_tokens.
		return Usage{Input: val(x.Prompt) - x.PromptDet.Cached, CacheRead: x.PromptDet.Cached,
			Output: val(x.Completion) - x.CompletionDet.Reasoning, Reasoning: x.CompletionDet.Reasoning, Reported: true}
	case x.CacheRead > 0 || x.CacheWrite > 0:
		// Anthropic counts cache reads and writes apart from input_tokens.
		return Usage{Input: val(x.Input), Output: val(x.Output), CacheRead: x.CacheRead, CacheWrite: x.CacheWrite, Reported: true}
	case x.Input != nil || x.Output != nil:
		// Responses API (cached tokens counted inside input_tokens) or
		// Anthropic without caching.
		return Usage{Input: val(x.Input) - x.InputDet.Cached, CacheRead: x.InputDet.Cached,
			Output: val(x.Output) - x.OutputDet.Reasoning, Reasoning: x.OutputDet.Reasoning, Reported: true}
	}
	return Usage{}
}

func val(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
