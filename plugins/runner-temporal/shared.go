package main

import (
	"bytes"
	"compress/zlib"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/wtbench/wtb/sdk"
	"go.temporal.io/sdk/converter"
)

// Names registered with Temporal. Changing them breaks running workflows, so
// they carry a version like the plugin contract does.
const (
	workflowName = "wtb.segment.v1"
	activityName = "wtb.node.v1"
)

// Failure types carried by Temporal application errors.
const (
	errTypeNode        = "WTBNodeFailure"
	errTypePayloadSize = "WTBPayloadTooLarge"
)

// NodePolicy is how the workflow runs each node's activity.
type NodePolicy struct {
	MaxAttempts      int32         `json:"max_attempts"`
	StartToClose     time.Duration `json:"start_to_close"`
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout"`
	InitialInterval  time.Duration `json:"initial_interval"`
	MaxPayloadBytes  int           `json:"max_payload_bytes"`
}

// SegmentInput is the workflow's input: one execution segment.
type SegmentInput struct {
	BatchID      string            `json:"batch_id"`
	ExecutionKey string            `json:"execution_key"`
	Attempt      int               `json:"attempt"`
	Combination  string            `json:"combination"`
	Variants     map[string]string `json:"variants"`
	Case         sdk.Case          `json:"case"`
	Repeat       int               `json:"repeat"`
	Nodes        []sdk.Node        `json:"nodes"`
	StartState   json.RawMessage   `json:"start_state"`
	Env          sdk.RuntimeEnv    `json:"env"`
	Policy       NodePolicy        `json:"policy"`
	// ModelCalls is the gateway's configuration; each node's recordings
	// travel in its own activity input (NodeInput), not in every one.
	ModelCalls *sdk.ModelCalls  `json:"model_calls,omitempty"`
	Recordings []sdk.Recordings `json:"recordings,omitempty"`
}

// NodeInput is one node activity's input.
type NodeInput struct {
	Segment SegmentInput    `json:"segment"` // without Nodes and StartState
	Node    sdk.Node        `json:"node"`
	State   json.RawMessage `json:"state"`
	// Recordings are what the gateway may replay for this node run.
	Recordings *sdk.Recordings `json:"recordings,omitempty"`
}

// NodeOutput is one node activity's result: the node's checkpoint.
type NodeOutput struct {
	Node     string             `json:"node"`
	State    json.RawMessage    `json:"state"`
	Output   json.RawMessage    `json:"output"`
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Duration time.Duration      `json:"duration"`
	WorkerID string             `json:"worker_id"`
	Logs     []string           `json:"logs,omitempty"`
	// Interactions are the node's model calls.
	Interactions []sdk.Interaction `json:"interactions,omitempty"`
	// Spans are the node's spans.
	Spans sdk.Spans `json:"spans"`
}

// NodeFailure travels as the details of a failed node's application error.
type NodeFailure struct {
	Node      string          `json:"node"`
	Message   string          `json:"message"`
	Kind      sdk.FailureKind `json:"kind"`
	Retryable bool            `json:"retryable"`
	ExitCode  int             `json:"exit_code"`
	WorkerID  string          `json:"worker_id"`
	// Interactions are the node's model calls up to its failure.
	Interactions []sdk.Interaction `json:"interactions,omitempty"`
	// Spans are the node's spans up to its failure.
	Spans sdk.Spans `json:"spans"`
}

// dataConverter compresses payloads (zlib, only when it helps): node states of
// several MiB of JSON fit in Temporal's payload limit.
func dataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), converter.NewZlibCodec(converter.ZlibCodecOptions{}))
}

// compressedSize is what a payload costs after the codec.
func compressedSize(b []byte) int {
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, zlib.BestSpeed)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Len()
}

// TLSOptions configure TLS (and mutual TLS) to the Temporal frontend.
type TLSOptions struct {
	CAFile     string `json:"tls_ca_file"`
	CertFile   string `json:"tls_cert_file"`
	KeyFile    string `json:"tls_key_file"`
	ServerName string `json:"tls_server_name"`
	Enabled    bool   `json:"tls"`
}

func (o TLSOptions) config() (*tls.Config, error) {
	if !o.Enabled && o.CAFile == "" && o.CertFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: o.ServerName, MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading tls_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_ca_file %s holds no PEM certificate", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if o.CertFile != "" || o.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading the client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func humanBytes(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
