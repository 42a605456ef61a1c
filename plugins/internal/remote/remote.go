// Package remote holds what the runner-grpc and env-grpc plugins share: the
// connection settings of an external WTB service (wtb.remote.v1) and the
// dialing, credentials and error wording that go with them.
package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/wtbench/wtb/sdk"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// Options are the connection settings in a runner or environment block.
type Options struct {
	Address         string `json:"address"`
	TLS             bool   `json:"tls"`
	TLSCAFile       string `json:"tls_ca_file"`
	TLSCertFile     string `json:"tls_cert_file"`
	TLSKeyFile      string `json:"tls_key_file"`
	TLSServerName   string `json:"tls_server_name"`
	TokenEnv        string `json:"token_env"`
	TokenFile       string `json:"token_file"`
	CallTimeout     string `json:"call_timeout"`
	ConnectTimeout  string `json:"connect_timeout"`
	Retries         int    `json:"retries"`
	RetryBackoff    string `json:"retry_backoff"`
	MaxMessageBytes int    `json:"max_message_bytes"`
}

// Attributes is the schema of Options.
func Attributes() []sdk.Attribute {
	return []sdk.Attribute{
		{Name: "address", Type: "string", Required: true, Description: "host:port of the service."},
		{Name: "tls", Type: "bool", Default: false, Description: "Use TLS (implied by the tls_* files)."},
		{Name: "tls_ca_file", Type: "string", Default: "", Description: "CA certificate that signed the server's certificate (PEM)."},
		{Name: "tls_cert_file", Type: "string", Default: "", Description: "Client certificate for mutual TLS (PEM)."},
		{Name: "tls_key_file", Type: "string", Default: "", Description: "Client key for mutual TLS (PEM)."},
		{Name: "tls_server_name", Type: "string", Default: "", Description: "Name to verify in the server's certificate."},
		{Name: "token_env", Type: "string", Default: "", Description: "Environment variable holding the bearer token (the token itself never goes in the bench file)."},
		{Name: "token_file", Type: "string", Default: "", Description: "File holding the bearer token."},
		{Name: "call_timeout", Type: "string", Default: "10m", Description: "Deadline of one call (a whole segment for the runner)."},
		{Name: "connect_timeout", Type: "string", Default: "10s", Description: "How long the first contact may take."},
		{Name: "retries", Type: "number", Default: 4, Description: "Retries of a call that failed with UNAVAILABLE or a deadline."},
		{Name: "retry_backoff", Type: "string", Default: "250ms", Description: "First retry delay (doubling)."},
		{Name: "max_message_bytes", Type: "number", Default: 256 << 20, Description: "Largest message either way (node states)."},
	}
}

// Settings are Options parsed and checked.
type Settings struct {
	Options
	callTimeout, connectTimeout, backoff time.Duration
	token                                string
	tls                                  *tls.Config
}

// CallTimeout is the per-call deadline.
func (s *Settings) CallTimeout() time.Duration { return s.callTimeout }

// Parse checks the options and reads the token and certificates. Problems
// are diagnostics pointing at the attribute.
func Parse(o Options) (*Settings, sdk.Diagnostics) {
	s := &Settings{Options: o}
	var diags sdk.Diagnostics
	dur := func(attr, v string, into *time.Duration) {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			diags = append(diags, sdk.AttributeError(attr, attr+" must be a positive duration such as \"30s\"", fmt.Sprintf("got %q", v)))
		}
		*into = d
	}
	dur("call_timeout", o.CallTimeout, &s.callTimeout)
	dur("connect_timeout", o.ConnectTimeout, &s.connectTimeout)
	dur("retry_backoff", o.RetryBackoff, &s.backoff)
	if o.Address == "" {
		diags = append(diags, sdk.AttributeError("address", "address must be host:port", ""))
	}
	if o.Retries < 0 {
		diags = append(diags, sdk.AttributeError("retries", "retries must not be negative", ""))
	}
	if o.MaxMessageBytes < 1<<20 {
		diags = append(diags, sdk.AttributeError("max_message_bytes", "max_message_bytes must be at least 1 MiB", ""))
	}
	switch {
	case o.TokenEnv != "" && o.TokenFile != "":
		diags = append(diags, sdk.AttributeError("token_file", "set token_env or token_file, not both", ""))
	case o.TokenEnv != "":
		s.token = strings.TrimSpace(os.Getenv(o.TokenEnv))
		if s.token == "" {
			diags = append(diags, sdk.AttributeError("token_env", "the token variable is empty or unset",
				fmt.Sprintf("token_env names %s, which is not set in wtb's environment", o.TokenEnv)))
		}
	case o.TokenFile != "":
		raw, err := os.ReadFile(o.TokenFile)
		if err != nil {
			diags = append(diags, sdk.AttributeError("token_file", "cannot read the token file", err.Error()))
		}
		s.token = strings.TrimSpace(string(raw))
	}
	if o.TLS || o.TLSCAFile != "" || o.TLSCertFile != "" {
		cfg := &tls.Config{ServerName: o.TLSServerName, MinVersion: tls.VersionTLS12}
		if o.TLSCAFile != "" {
			pem, err := os.ReadFile(o.TLSCAFile)
			pool := x509.NewCertPool()
			if err != nil || !pool.AppendCertsFromPEM(pem) {
				diags = append(diags, sdk.AttributeError("tls_ca_file", "cannot load the CA certificate", fmt.Sprint(err)))
			}
			cfg.RootCAs = pool
		}
		if o.TLSCertFile != "" || o.TLSKeyFile != "" {
			cert, err := tls.LoadX509KeyPair(o.TLSCertFile, o.TLSKeyFile)
			if err != nil {
				diags = append(diags, sdk.AttributeError("tls_cert_file", "cannot load the client certificate", err.Error()))
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		s.tls = cfg
	}
	return s, diags
}

// bearer sends the token with every call. It is never logged.
type bearer struct{ token string }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false so a token also works over plaintext on
// loopback; use TLS anywhere else.
func (b bearer) RequireTransportSecurity() bool { return false }

// Dial connects to the service.
func (s *Settings) Dial() (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if s.tls != nil {
		creds = credentials.NewTLS(s.tls)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(s.MaxMessageBytes), grpc.MaxCallSendMsgSize(s.MaxMessageBytes)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}
	if s.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: s.token}))
	}
	conn, err := grpc.NewClient(s.Address, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", s.Address, err)
	}
	return conn, nil
}

// Connect dials the service and makes a first call (probe) within the connect
// timeout, so a wrong address, token or certificate shows before anything
// runs, worded for the user.
func (s *Settings) Connect(ctx context.Context, probe func(context.Context, *grpc.ClientConn) error) (*grpc.ClientConn, error) {
	conn, err := s.Dial()
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.connectTimeout)
	defer cancel()
	if err := probe(cctx, conn); err != nil {
		conn.Close()
		return nil, Explain(s.Address, err)
	}
	return conn, nil
}

// ConnectTimeout bounds the first contact.
func (s *Settings) ConnectTimeout() time.Duration { return s.connectTimeout }

// Transient reports errors a call may be retried on.
func Transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	}
	return false
}

// Backoff is the delay before retry n (1-based).
func (s *Settings) Backoff(n int) time.Duration {
	d := s.backoff << (n - 1)
	if d <= 0 || d > 10*time.Second {
		d = 10 * time.Second
	}
	return d
}

// Explain words an error from the service for a user.
func Explain(address string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("remote service at %s: %w", address, err)
	}
	if msg := st.Message(); strings.Contains(msg, "handshake") || strings.Contains(msg, "x509") || strings.Contains(msg, "tls:") {
		return fmt.Errorf("remote service at %s: TLS handshake failed: %s (check tls_ca_file, tls_server_name and the client certificate)", address, msg)
	}
	switch st.Code() {
	case codes.PermissionDenied, codes.Unauthenticated:
		return fmt.Errorf("remote service at %s rejected the credentials (%s): %s; check token_env or token_file", address, st.Code(), st.Message())
	case codes.DeadlineExceeded:
		return fmt.Errorf("remote service at %s did not answer in time (%s)", address, st.Message())
	case codes.Unavailable:
		return fmt.Errorf("remote service at %s is unavailable: %s", address, st.Message())
	}
	return fmt.Errorf("remote service at %s: %s: %s", address, st.Code(), st.Message())
}
