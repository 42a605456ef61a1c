package doc

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// ModelCall is one call a node run made to a model API through the gateway:
// its request and response as stored (credentials are never stored; secret
// values are masked).
type ModelCall struct {
	Ordinal int `json:"ordinal"`
	// Attempt is the failed attempt it belongs to, 0 for the node run that
	// finished.
	Attempt     int             `json:"attempt"`
	Upstream    string          `json:"upstream"`
	Method      string          `json:"method"`
	Path        string          `json:"path"`
	Query       string          `json:"query"`
	Model       string          `json:"model"`
	Status      int             `json:"status"`
	Source      string          `json:"source"` // live, recorded or replayed
	Streamed    bool            `json:"streamed"`
	StartedAt   time.Time       `json:"started_at"`
	DurationMs  float64         `json:"duration_ms"`
	FirstByteMs float64         `json:"first_byte_ms"`
	Error       string          `json:"error"`
	Request     json.RawMessage `json:"request"`
	Response    json.RawMessage `json:"response"`
}

// modelCallsByNode sorts an execution's calls into its nodes.
func modelCallsByNode(calls []store.ModelCall, red *spec.Redactor) map[string][]ModelCall {
	out := map[string][]ModelCall{}
	for _, c := range calls {
		attempt := 0
		if i := strings.LastIndex(c.RunID, "#a"); i >= 0 {
			attempt, _ = strconv.Atoi(c.RunID[i+2:])
		}
		out[c.Node] = append(out[c.Node], ModelCall{Ordinal: c.Ordinal, Attempt: attempt, Upstream: c.Upstream, Method: c.Method,
			Path: c.Path, Query: red.String(c.Query), Model: c.Model, Status: c.Status, Source: c.Source, Streamed: c.Streamed,
			StartedAt: c.StartedAt, DurationMs: c.DurationMs, FirstByteMs: c.FirstByteMs, Error: red.String(c.Error),
			Request: red.JSON(c.Request), Response: red.JSON(c.Response)})
	}
	return out
}
