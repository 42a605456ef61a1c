package spec

import "strings"

// Bridge kinds.
const (
	BridgeNATS    = "nats"
	BridgeWebhook = "webhook"
	// BridgeOTLP sends the batch as a trace to an OTLP/HTTP collector
	// (traceout), not the bus's events.
	BridgeOTLP = "otlp"
)

// Bridge is a bridge block: where the event bus's events go, as CloudEvents.
// What may be a secret is not stored with the batch: the values of the
// webhook's headers (Headers lives in this process only; HeaderNames are
// stored) and the password of the URL (URL is stored masked; SecretURL
// holds it unmasked in this process only). A resumed batch runs the bridges
// that lost nothing that way.
type Bridge struct {
	Kind      string `json:"kind"`
	URL       string `json:"url"`
	SecretURL string `json:"-"`
	// Subject is the NATS subject; JetStream waits for the stream's
	// acknowledgement of each event instead of the server's.
	Subject     string            `json:"subject,omitempty"`
	JetStream   bool              `json:"jetstream,omitempty"`
	HeaderNames []string          `json:"header_names,omitempty"`
	Headers     map[string]string `json:"-"`
	// Buffer bounds the events waiting to be sent; past it they are dropped
	// and counted.
	Buffer int `json:"buffer"`
	// FlushTimeout bounds the wait for the buffer to drain at the end.
	FlushTimeout Duration `json:"flush_timeout"`
	// MaxBatch is the most events a webhook request carries: 1 sends each
	// as a structured CloudEvent, more a JSON batch of them.
	MaxBatch int `json:"max_batch,omitempty"`
	// Events are the event types sent (none: every type).
	Events []string `json:"events,omitempty"`
}

// Endpoint is the URL a bridge connects to: the one with its password when
// this process read it from the bench file.
func (b Bridge) Endpoint() string {
	if b.SecretURL != "" {
		return b.SecretURL
	}
	return b.URL
}

// LostSecrets says what of the bridge a stored spec does not hold ("" when
// nothing: the bridge can run from the stored spec alone).
func (b Bridge) LostSecrets() string {
	switch {
	case len(b.HeaderNames) > 0 && len(b.Headers) == 0:
		return "the values of its headers"
	case b.SecretURL == "" && strings.Contains(b.URL, "xxxxx@"):
		return "the password in its URL"
	}
	return ""
}
