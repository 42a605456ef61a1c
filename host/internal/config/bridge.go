package config

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/suggest"
)

// Bridge defaults: a buffer of events that holds a few minutes of a large
// batch's outage, and a flush at the end short enough not to hold up CI.
const (
	defaultBridgeBuffer       = 10000
	defaultBridgeFlushTimeout = 5 * time.Second
	maxBridgeBuffer           = 10_000_000
)

// BridgeKinds are the labels a bridge block may have.
var BridgeKinds = []string{spec.BridgeNATS, spec.BridgeWebhook, spec.BridgeOTLP}

var bridgeAttrs = map[string][]string{
	spec.BridgeNATS:    {"url", "subject", "jetstream", "buffer", "flush_timeout", "events"},
	spec.BridgeWebhook: {"url", "headers", "max_batch", "buffer", "flush_timeout", "events"},
	// The batch as a trace: buffer counts executions waiting to be sent.
	spec.BridgeOTLP: {"url", "headers", "buffer", "flush_timeout"},
}

// decodeBridge decodes a bridge block: bridge "nats" {…} or bridge "webhook" {…}.
func (c *Config) decodeBridge(b *hcl.Block) (*spec.Bridge, hcl.Diagnostics) {
	kind := b.Labels[0]
	names, ok := bridgeAttrs[kind]
	if !ok {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown bridge kind",
			Detail:  fmt.Sprintf("A bridge is %s; got %q.%s", quoteAll(BridgeKinds), kind, suggest.DidYouMean(kind, BridgeKinds)),
			Subject: b.LabelRanges[0].Ptr()}}
	}
	schema := &hcl.BodySchema{}
	for _, n := range names {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: n, Required: n == "url" || (n == "subject" && kind == spec.BridgeNATS)})
	}
	body, diags := content(b.Body, schema)
	a := &attrs{m: body.Attributes, ctx: c.ctx, diags: diags}
	br := &spec.Bridge{Kind: kind, Buffer: a.integer("buffer", defaultBridgeBuffer, 1, maxBridgeBuffer),
		FlushTimeout: spec.Duration(a.duration("flush_timeout", defaultBridgeFlushTimeout))}
	raw := a.str("url", "")
	if raw != "" && !a.failed("url") {
		schemes := []string{"http", "https"}
		example := `"https://hooks.example.com/wtb"`
		switch kind {
		case spec.BridgeNATS:
			schemes, example = []string{"nats", "tls"}, `"nats://127.0.0.1:4222"`
		case spec.BridgeOTLP:
			example = `"http://127.0.0.1:4318" (the collector's OTLP/HTTP endpoint; /v1/traces is added)`
		}
		u, err := url.Parse(raw)
		if err != nil || !slices.Contains(schemes, u.Scheme) || u.Host == "" {
			a.errorf("url", "Invalid bridge URL", "A %s bridge's url is an absolute %s:// URL such as %s; got %q.", kind, strings.Join(schemes, ":// or "), example, raw)
		} else {
			br.URL, br.SecretURL = u.Redacted(), raw
			if br.URL == raw {
				br.SecretURL = ""
			}
		}
	}
	if kind == spec.BridgeNATS {
		br.Subject = a.str("subject", "")
		br.JetStream = a.boolean("jetstream", false)
		if br.Subject != "" && !validSubject(br.Subject) {
			a.errorf("subject", "Invalid NATS subject", "subject is a NATS subject to publish to, tokens separated by dots, without spaces or wildcards (* and >), such as \"wtb.events\"; got %q.", br.Subject)
		}
	}
	if kind == spec.BridgeWebhook {
		br.MaxBatch = a.integer("max_batch", 1, 1, 10000)
	}
	if kind == spec.BridgeWebhook || kind == spec.BridgeOTLP {
		if h, ok := a.stringMap("headers"); ok {
			br.Headers = map[string]string{}
			for _, name := range spec.SortedKeys(h) {
				canon := http.CanonicalHeaderKey(name)
				if !validHeaderName(name) {
					a.errorf("headers", "Invalid header name", "%q cannot name an HTTP header.", name)
					continue
				}
				if kind == spec.BridgeWebhook && (canon == "Content-Type" || canon == "Content-Length") {
					a.errorf("headers", "A header the bridge sets", "%s is set by the bridge (application/cloudevents+json, or application/cloudevents-batch+json with max_batch > 1).", canon)
					continue
				}
				if kind == spec.BridgeOTLP && (canon == "Content-Type" || canon == "Content-Length" || canon == "Content-Encoding") {
					a.errorf("headers", "A header the exporter sets", "%s is set by the OTLP exporter (application/x-protobuf, gzip).", canon)
					continue
				}
				br.Headers[canon] = h[name]
				br.HeaderNames = append(br.HeaderNames, canon)
			}
		}
	}
	if types, ok := a.strings("events"); ok {
		var known []string
		for _, t := range events.Types {
			known = append(known, string(t))
		}
		for _, t := range types {
			if !slices.Contains(known, t) {
				a.errorf("events", "Unknown event type", "%q is not an event type; they are %s.%s", t, strings.Join(known, ", "), suggest.DidYouMean(t, known))
			}
		}
		br.Events = types
	}
	return br, a.diags
}

// validSubject: dot-separated non-empty tokens of printable characters
// other than wildcards.
func validSubject(s string) bool {
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n*>") {
			return false
		}
	}
	return true
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) {
			return false
		}
	}
	return true
}
