// Command httpcall is a WTB command node that makes one chat call with Go's
// net/http as any Go program would (http.DefaultClient: the proxy variables,
// and on Linux SSL_CERT_FILE), for the model-call gateway's tests. The URL is
// $HTTPCALL_URL (or $OPENAI_BASE_URL) + /chat/completions, the key
// $OPENAI_API_KEY. It prints {"answer": the model's reply}.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

func main() {
	var in struct {
		Case struct {
			Input struct {
				Question string `json:"question"`
			} `json:"input"`
		} `json:"case"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail("reading the input: %v", err)
	}
	base := os.Getenv("HTTPCALL_URL")
	if base == "" {
		base = os.Getenv("OPENAI_BASE_URL")
	}
	body, _ := json.Marshal(map[string]any{"model": "gpt-4o-mini",
		"messages": []map[string]string{{"role": "user", "content": in.Case.Input.Question}}})
	req, err := http.NewRequest("POST", strings.TrimSuffix(base, "/")+"/chat/completions", strings.NewReader(string(body)))
	if err != nil {
		fail("%v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+os.Getenv("OPENAI_API_KEY"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail("calling %s: %v", base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		fail("%s answered %d: %s", base, resp.StatusCode, b)
	}
	var out struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out.Choices) == 0 {
		fail("not a chat completion: %s", b)
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string]string{"answer": out.Choices[0].Message.Content})
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
