// Command wtb-env-grpc delegates environments to an external service that
// implements wtb.remote.v1.EnvironmentService.
package main

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/wtbench/wtb/plugins/internal/remote"
	remotev1 "github.com/wtbench/wtb/proto/wtb/remote/v1"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/serve"
	"google.golang.org/grpc"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

type provider struct {
	mu       sync.Mutex
	settings *remote.Settings
	conn     *grpc.ClientConn
	client   remotev1.EnvironmentServiceClient
	ids      map[string]string // variant -> environment id
}

func (p *provider) Info() sdk.Info {
	return sdk.Info{
		Name:        "grpc",
		Version:     version,
		Description: "Environments provided by an external service implementing wtb.remote.v1.EnvironmentService.",
		Schema:      sdk.Schema{Attributes: remote.Attributes()},
	}
}

func (p *provider) Configure(_ context.Context, raw json.RawMessage) sdk.Diagnostics {
	var o remote.Options
	if err := sdk.DecodeConfig(raw, &o); err != nil {
		return sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "invalid configuration", Detail: err.Error()}}
	}
	s, diags := remote.Parse(o)
	if diags.HasErrors() {
		return diags
	}
	p.mu.Lock()
	p.settings = s
	p.ids = map[string]string{}
	p.mu.Unlock()
	return nil
}

// Connect dials the service and checks it answers (an unknown environment
// lookup is a cheap, harmless call).
func (p *provider) Connect(ctx context.Context) error {
	p.mu.Lock()
	s := p.settings
	p.mu.Unlock()
	conn, err := s.Connect(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := remotev1.NewEnvironmentServiceClient(conn).GetEnvironment(ctx, &remotev1.GetEnvironmentRequest{EnvironmentId: "wtb-connect-check"})
		return err
	})
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.conn, p.client = conn, remotev1.NewEnvironmentServiceClient(conn)
	p.mu.Unlock()
	return nil
}

// call retries transient failures; the calls are idempotent.
func (p *provider) call(ctx context.Context, f func(ctx context.Context) error) error {
	s := p.settings
	var err error
	for attempt := 0; attempt <= s.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(s.Backoff(attempt)):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		cctx, cancel := context.WithTimeout(ctx, s.CallTimeout())
		err = f(cctx)
		cancel()
		if err == nil || !remote.Transient(err) {
			break
		}
	}
	if err != nil {
		return remote.Explain(s.Address, err)
	}
	return nil
}

func fromRemote(e *remotev1.Environment) sdk.RuntimeEnv {
	return sdk.RuntimeEnv{ID: e.GetId(), Env: e.GetEnv(), WorkingDir: e.GetWorkingDir(), Labels: map[string]string{"provider": "grpc"}}
}

func (p *provider) CreateEnvironment(ctx context.Context, batchID, variantID string, config json.RawMessage) (sdk.RuntimeEnv, sdk.Diagnostics) {
	var resp *remotev1.CreateEnvironmentResponse
	err := p.call(ctx, func(ctx context.Context) error {
		var err error
		resp, err = p.client.CreateEnvironment(ctx, &remotev1.CreateEnvironmentRequest{BatchId: batchID, VariantId: variantID, ConfigJson: config})
		return err
	})
	if err != nil {
		return sdk.RuntimeEnv{}, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "creating the environment failed", Detail: err.Error()}}
	}
	p.mu.Lock()
	p.ids[variantID] = resp.GetEnvironment().GetId()
	p.mu.Unlock()
	return fromRemote(resp.GetEnvironment()), nil
}

func (p *provider) RuntimeEnv(ctx context.Context, variantID string) (sdk.RuntimeEnv, bool, error) {
	p.mu.Lock()
	id, ok := p.ids[variantID]
	p.mu.Unlock()
	if !ok {
		return sdk.RuntimeEnv{}, false, nil
	}
	var resp *remotev1.GetEnvironmentResponse
	err := p.call(ctx, func(ctx context.Context) error {
		var err error
		resp, err = p.client.GetEnvironment(ctx, &remotev1.GetEnvironmentRequest{EnvironmentId: id})
		return err
	})
	if err != nil || !resp.GetFound() {
		return sdk.RuntimeEnv{}, false, err
	}
	return fromRemote(resp.GetEnvironment()), true, nil
}

func (p *provider) CleanupEnvironment(ctx context.Context, variantID string) error {
	p.mu.Lock()
	id, ok := p.ids[variantID]
	delete(p.ids, variantID)
	p.mu.Unlock()
	if !ok {
		return nil
	}
	return p.call(ctx, func(ctx context.Context) error {
		_, err := p.client.CleanupEnvironment(ctx, &remotev1.CleanupEnvironmentRequest{EnvironmentId: id})
		return err
	})
}

// Shutdown removes environments the host did not clean up (an interrupted
// batch), then closes the connection.
func (p *provider) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	var variants []string
	for v := range p.ids {
		variants = append(variants, v)
	}
	p.mu.Unlock()
	for _, v := range variants {
		_ = p.CleanupEnvironment(ctx, v)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
	return nil
}

func main() {
	serve.Environment(&provider{})
}
