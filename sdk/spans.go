package sdk

import (
	"encoding/json"
	"time"
)

// Span is one span of a node run, in a compact form: what the node's own
// OpenTelemetry instrumentation exported to the OTLP receiver beside the
// nodes, or a model call the gateway saw that none of the node's spans
// describes (Source "gateway").
type Span struct {
	// TraceID and SpanID are lower-case hex, as in a traceparent.
	TraceID string `json:"trace_id"`
	SpanID  string `json:"span_id"`
	// ParentID is empty for a root span.
	ParentID string `json:"parent_span_id,omitempty"`
	Name     string `json:"name"`
	// Kind is internal, server, client, producer or consumer ("" when
	// unspecified).
	Kind  string    `json:"kind,omitempty"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Status is unset, ok or error.
	Status        string `json:"status,omitempty"`
	StatusMessage string `json:"status_message,omitempty"`
	// Attributes is one JSON object (nil when the span has none).
	Attributes json.RawMessage `json:"attributes,omitempty"`
	// Events is a JSON array of {name, time, attributes} (nil: none).
	Events json.RawMessage `json:"events,omitempty"`
	// Service is the resource's service.name, Scope the instrumentation
	// scope's name.
	Service string `json:"service,omitempty"`
	Scope   string `json:"scope,omitempty"`
	// Source is SpanSourceNode, SpanSourceGateway or SpanSourceWTB.
	Source string `json:"source,omitempty"`
}

// Where a span came from.
const (
	SpanSourceNode    = "node"
	SpanSourceGateway = "gateway"
	// SpanSourceWTB is the node run's own span, the parent TRACEPARENT names.
	SpanSourceWTB = "wtb"
)

// Spans are a node run's spans and how many the receiver dropped past the
// node run's bound.
type Spans struct {
	Spans   []Span `json:"spans,omitempty"`
	Dropped int64  `json:"dropped,omitempty"`
}
