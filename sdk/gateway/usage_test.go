package gateway

import (
	"testing"
)

func TestParseUsageOfEveryWireFormat(t *testing.T) {
	sse := func(events ...string) [][]byte {
		var out [][]byte
		for _, e := range events {
			// Split mid-event too: chunks are not events.
			b := []byte("data: " + e + "\n\n")
			out = append(out, b[:len(b)/2], b[len(b)/2:])
		}
		return out
	}
	for _, c := range []struct {
		name   string
		body   string
		chunks [][]byte
		want   Usage
	}{
		{"openai chat", `{"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":40,"total_tokens":140,
			"prompt_tokens_details":{"cached_tokens":30},"completion_tokens_details":{"reasoning_tokens":10}}}`, nil,
			Usage{Input: 70, CacheRead: 30, Output: 30, Reasoning: 10, Reported: true}},
		{"openai chat streamed (usage in the last chunk)", "", sse(`{"choices":[{"delta":{"content":"Hi"}}]}`,
			`{"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":4,"total_tokens":12}}`, `[DONE]`),
			Usage{Input: 8, Output: 4, Reported: true}},
		{"openai responses", `{"output":[],"usage":{"input_tokens":50,"output_tokens":20,"input_tokens_details":{"cached_tokens":10},
			"output_tokens_details":{"reasoning_tokens":5}}}`, nil, Usage{Input: 40, CacheRead: 10, Output: 15, Reasoning: 5, Reported: true}},
		{"openai responses streamed", "", sse(`{"type":"response.output_text.delta","delta":"x"}`,
			`{"type":"response.completed","response":{"usage":{"input_tokens":9,"output_tokens":3}}}`), Usage{Input: 9, Output: 3, Reported: true}},
		{"anthropic", `{"content":[],"usage":{"input_tokens":20,"output_tokens":7,"cache_read_input_tokens":100,"cache_creation_input_tokens":50}}`, nil,
			Usage{Input: 20, Output: 7, CacheRead: 100, CacheWrite: 50, Reported: true}},
		{"anthropic streamed", "", sse(`{"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1,"cache_read_input_tokens":5}}}`,
			`{"type":"content_block_delta","delta":{"text":"Hi"}}`, `{"type":"message_delta","usage":{"output_tokens":15}}`, `{"type":"message_stop"}`),
			Usage{Input: 25, Output: 15, CacheRead: 5, Reported: true}},
		{"gemini", `{"candidates":[],"usageMetadata":{"promptTokenCount":60,"candidatesTokenCount":12,"cachedContentTokenCount":20,"thoughtsTokenCount":4}}`, nil,
			Usage{Input: 40, CacheRead: 20, Output: 12, Reasoning: 4, Reported: true}},
		{"gemini streamed", "", sse(`{"candidates":[],"usageMetadata":{"promptTokenCount":6}}`,
			`{"candidates":[],"usageMetadata":{"promptTokenCount":6,"candidatesTokenCount":9}}`), Usage{Input: 6, Output: 9, Reported: true}},
		{"none reported", `{"choices":[]}`, nil, Usage{}},
		{"not json", `oops`, nil, Usage{}},
	} {
		if got := ParseUsage([]byte(c.body), c.chunks); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
