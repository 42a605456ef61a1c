package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/wtbench/wtb/sdk/client"
)

// Environment describes the environment provider under test.
type Environment struct {
	// Binary is the path of the built plugin.
	Binary string
	// Config is a valid configuration block as JSON ({} when empty); the
	// schema's defaults are filled in before it is sent.
	Config json.RawMessage
	// InvalidConfig, when set, must be rejected with an error diagnostic whose
	// attribute path is InvalidPath.
	InvalidConfig json.RawMessage
	InvalidPath   []string
	// Variant is a variant's environment settings (the `environment` of a
	// variant in a bench file, as JSON); {} when empty.
	Variant json.RawMessage
}

// RunEnvironment checks an environment provider: handshake and info,
// configuration diagnostics, creating a variant's environment (and the same
// environment again for the same variant), reading it back (GetRuntimeEnv:
// found while it exists, not found before or after), clean-up (also of
// unknown variants), and a clean exit.
func RunEnvironment(t *testing.T, target Environment) {
	t.Helper()
	if len(target.Config) == 0 {
		target.Config = json.RawMessage("{}")
	}
	if len(target.Variant) == 0 {
		target.Variant = json.RawMessage("{}")
	}
	e := &envHarness{target: target}
	t.Run("handshake_and_info", e.handshakeAndInfo)
	t.Run("config_diagnostics", e.configDiagnostics)
	t.Run("create_and_cleanup", e.createAndCleanup)
	t.Run("clean_exit", e.cleanExit)
}

type envHarness struct{ target Environment }

func (e *envHarness) configured(t *testing.T) *client.Plugin {
	t.Helper()
	p := launch(t, e.target.Binary, client.KindEnvironment)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := p.Environment().Info(ctx)
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	diags, err := p.Environment().Configure(ctx, withDefaults(t, info, e.target.Config), "conformance")
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if diags.HasErrors() {
		t.Fatalf("Configure rejected the valid config %s: %v", e.target.Config, diags)
	}
	return p
}

func (e *envHarness) handshakeAndInfo(t *testing.T) {
	p := launch(t, e.target.Binary, client.KindEnvironment)
	info, err := p.Environment().Info(context.Background())
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	checkInfo(t, info)
}

func (e *envHarness) configDiagnostics(t *testing.T) {
	if len(e.target.InvalidConfig) == 0 {
		t.Skip("no InvalidConfig given")
	}
	p := launch(t, e.target.Binary, client.KindEnvironment)
	info, err := p.Environment().Info(context.Background())
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	diags, err := p.Environment().Configure(context.Background(), withDefaults(t, info, e.target.InvalidConfig), "conformance")
	if err != nil {
		t.Fatalf("Configure must report bad configuration as diagnostics, not as an RPC error: %v", err)
	}
	checkDiagnostic(t, diags, e.target.InvalidConfig, e.target.InvalidPath)
}

func (e *envHarness) createAndCleanup(t *testing.T) {
	p := e.configured(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	batch := fmt.Sprintf("conformance-%d", time.Now().UnixNano())
	env, diags, err := p.Environment().Create(ctx, batch, "variant-a", e.target.Variant)
	if err != nil || diags.HasErrors() {
		t.Fatalf("CreateEnvironment: %v %v", err, diags)
	}
	again, diags, err := p.Environment().Create(ctx, batch, "variant-a", e.target.Variant)
	if err != nil || diags.HasErrors() {
		t.Fatalf("CreateEnvironment again: %v %v", err, diags)
	}
	if !reflect.DeepEqual(env, again) {
		t.Errorf("the same variant got another environment:\n first  %+v\n second %+v", env, again)
	}
	got, found, err := p.Environment().RuntimeEnv(ctx, "variant-a")
	if err != nil || !found {
		t.Errorf("GetRuntimeEnv of a variant just created: found=%v, error %v", found, err)
	} else if !reflect.DeepEqual(env, got) {
		t.Errorf("GetRuntimeEnv returns another environment than CreateEnvironment made:\n created %+v\n got     %+v", env, got)
	}
	if _, found, err := p.Environment().RuntimeEnv(ctx, "never-created"); err != nil || found {
		t.Errorf("GetRuntimeEnv of an unknown variant must say not found, without an error: found=%v, error %v", found, err)
	}
	if err := p.Environment().Cleanup(ctx, "variant-a"); err != nil {
		t.Errorf("CleanupEnvironment: %v", err)
	}
	if _, found, err := p.Environment().RuntimeEnv(ctx, "variant-a"); err != nil || found {
		t.Errorf("GetRuntimeEnv after CleanupEnvironment must say not found: found=%v, error %v", found, err)
	}
	if err := p.Environment().Cleanup(ctx, "never-created"); err != nil {
		t.Errorf("CleanupEnvironment of an unknown variant must succeed: %v", err)
	}
}

func (e *envHarness) cleanExit(t *testing.T) {
	p := e.configured(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = p.Environment().Shutdown(ctx)
	checkKill(t, p)
}
