package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/childproc"
)

// spec is an environment: the base from the HCL block with a variant's settings
// merged over it (maps merged with the variant winning, lists concatenated).
type spec struct {
	Env          map[string]string `json:"env"`
	Setup        []string          `json:"setup"`
	Files        map[string]string `json:"files"`
	SetupTimeout string            `json:"setup_timeout"`
}

type environment struct {
	runtime  sdk.RuntimeEnv
	specHash string
	dir      string
}

type setupResult struct {
	once sync.Once
	dir  string
	err  error
	refs int
}

type provider struct {
	mu       sync.Mutex
	base     map[string]any
	root     string
	ownsRoot bool
	keep     bool
	envs     map[string]*environment
	setups   map[string]*setupResult
}

func newProvider() *provider {
	return &provider{envs: map[string]*environment{}, setups: map[string]*setupResult{}}
}

func (p *provider) Info() sdk.Info {
	return sdk.Info{
		Name:        "local",
		Version:     version,
		Description: "A private working directory per variant on this machine, with merged environment variables and a cached setup command.",
		Schema: sdk.Schema{Attributes: []sdk.Attribute{
			{Name: "env", Type: "map(string)", Default: map[string]string{}, Description: "Environment variables for every node."},
			{Name: "setup", Type: "list(string)", Default: []string{}, Description: "Command run once per distinct environment spec, in its setup directory ($WTB_SETUP_DIR)."},
			{Name: "setup_timeout", Type: "string", Default: "10m", Description: "How long setup may take."},
			{Name: "files", Type: "map(string)", Default: map[string]string{}, Description: "Files (name = content) written into each variant's working directory."},
			{Name: "root", Type: "string", Default: "", Description: "Where working directories are made; a temporary directory by default."},
			{Name: "keep", Type: "bool", Default: false, Description: "Keep working directories after cleanup (for debugging)."},
		}},
	}
}

func (p *provider) Configure(_ context.Context, raw json.RawMessage) sdk.Diagnostics {
	var all map[string]any
	if err := sdk.DecodeConfig(raw, &all); err != nil {
		return sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "invalid configuration", Detail: err.Error()}}
	}
	var cfg struct {
		Root string `json:"root"`
		Keep bool   `json:"keep"`
	}
	_ = sdk.DecodeConfig(raw, &cfg)
	base := map[string]any{}
	for _, k := range []string{"env", "setup", "files", "setup_timeout"} {
		if v, ok := all[k]; ok && v != nil {
			base[k] = v
		}
	}
	var s spec
	if diags := decodeSpec(base, &s); diags.HasErrors() {
		return diags
	}
	for name := range s.Files {
		if !safeFileName(name) {
			return sdk.Diagnostics{sdk.AttributeError("files", "file names must be relative paths inside the working directory", fmt.Sprintf("got %q", name))}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.base = base
	p.keep = cfg.Keep
	if cfg.Root != "" {
		if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
			return sdk.Diagnostics{sdk.AttributeError("root", "cannot create the root directory", err.Error())}
		}
		p.root = cfg.Root
	} else {
		dir, err := os.MkdirTemp("", "wtb-env-")
		if err != nil {
			return sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "cannot create a temporary directory", Detail: err.Error()}}
		}
		p.root, p.ownsRoot = dir, true
	}
	return nil
}

func decodeSpec(m map[string]any, s *spec) sdk.Diagnostics {
	raw, _ := json.Marshal(m)
	if err := json.Unmarshal(raw, s); err != nil {
		return sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "invalid environment settings", Detail: err.Error()}}
	}
	if s.SetupTimeout != "" {
		if _, err := time.ParseDuration(s.SetupTimeout); err != nil {
			return sdk.Diagnostics{sdk.AttributeError("setup_timeout", "setup_timeout is not a duration", err.Error())}
		}
	}
	return nil
}

// mergeValues merges a variant's setting over the base: maps merge with the
// variant winning, lists concatenate, anything else is replaced.
func mergeValues(base, over any) any {
	switch o := over.(type) {
	case map[string]any:
		b, ok := base.(map[string]any)
		if !ok {
			return o
		}
		out := make(map[string]any, len(b)+len(o))
		for k, v := range b {
			out[k] = v
		}
		for k, v := range o {
			out[k] = mergeValues(b[k], v)
		}
		return out
	case []any:
		b, ok := base.([]any)
		if !ok {
			return o
		}
		return append(append([]any{}, b...), o...)
	case nil:
		return base
	}
	return over
}

func (p *provider) CreateEnvironment(ctx context.Context, batchID, variantID string, raw json.RawMessage) (sdk.RuntimeEnv, sdk.Diagnostics) {
	variant := map[string]any{}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &variant); err != nil {
			return sdk.RuntimeEnv{}, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "variant environment is not a JSON object", Detail: err.Error()}}
		}
	}
	p.mu.Lock()
	if p.root == "" {
		p.mu.Unlock()
		return sdk.RuntimeEnv{}, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "environment provider is not configured"}}
	}
	merged, _ := mergeValues(p.base, variant).(map[string]any)
	p.mu.Unlock()
	var s spec
	if diags := decodeSpec(merged, &s); diags.HasErrors() {
		return sdk.RuntimeEnv{}, diags
	}
	canonical, _ := json.Marshal(s) // map keys are sorted: a stable hash
	sum := sha256.Sum256(canonical)
	hash := hex.EncodeToString(sum[:])[:16]

	p.mu.Lock()
	if e, ok := p.envs[variantID]; ok && e.specHash == hash {
		p.mu.Unlock()
		return e.runtime, nil
	}
	setup, ok := p.setups[hash]
	if !ok {
		setup = &setupResult{}
		p.setups[hash] = setup
	}
	setup.refs++
	root := p.root
	p.mu.Unlock()

	setup.once.Do(func() { setup.dir, setup.err = runSetup(ctx, root, batchID, hash, s) })
	if setup.err != nil {
		p.release(hash)
		return sdk.RuntimeEnv{}, sdk.Diagnostics{sdk.AttributeError("setup", "environment setup failed", setup.err.Error())}
	}

	dir := filepath.Join(root, safeName(batchID), "variants", safeName(variantID)+"-"+hash[:8])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.release(hash)
		return sdk.RuntimeEnv{}, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "cannot create the working directory", Detail: err.Error()}}
	}
	for name, content := range s.Files {
		path := filepath.Join(dir, name)
		err := os.MkdirAll(filepath.Dir(path), 0o755)
		if err == nil {
			err = os.WriteFile(path, []byte(content), 0o644)
		}
		if err != nil {
			p.release(hash)
			return sdk.RuntimeEnv{}, sdk.Diagnostics{sdk.AttributeError("files", "cannot write file "+name, err.Error())}
		}
	}
	env := map[string]string{}
	for k, v := range s.Env {
		env[k] = v
	}
	env["WTB_ENV_DIR"] = dir
	if setup.dir != "" {
		env["WTB_SETUP_DIR"] = setup.dir
	}
	rt := sdk.RuntimeEnv{ID: variantID, Env: env, WorkingDir: dir,
		Labels: map[string]string{"provider": "local", "spec_hash": hash}}
	p.mu.Lock()
	if old, ok := p.envs[variantID]; ok {
		// The variant's spec changed: drop the old environment.
		defer p.removeEnv(old)
	}
	p.envs[variantID] = &environment{runtime: rt, specHash: hash, dir: dir}
	p.mu.Unlock()
	return rt, nil
}

// runSetup runs the setup command once for a spec, in a directory of its own.
func runSetup(ctx context.Context, root, batchID, hash string, s spec) (string, error) {
	if len(s.Setup) == 0 {
		return "", nil
	}
	dir := filepath.Join(root, safeName(batchID), "setup-"+hash)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	timeout := 10 * time.Minute
	if s.SetupTimeout != "" {
		timeout, _ = time.ParseDuration(s.SetupTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.Command(s.Setup[0], s.Setup[1:]...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+s.Env[k])
	}
	cmd.Env = append(cmd.Env, "WTB_SETUP_DIR="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The setup command and everything it starts die on timeout, on cancel
	// and with the plugin.
	cmd.WaitDelay = time.Second
	pgid, err := childproc.Start(cmd)
	if err == nil {
		stop := context.AfterFunc(ctx, func() { childproc.Kill(pgid) })
		err = cmd.Wait()
		stop()
		childproc.Done(pgid)
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("timed out after %s (setup_timeout); its process group was killed", timeout)
		case ctx.Err() != nil:
			err = fmt.Errorf("cancelled: %w", context.Cause(ctx))
		}
	}
	if err != nil {
		tail := strings.TrimSpace(out.String())
		if len(tail) > 400 {
			tail = "…" + tail[len(tail)-400:]
		}
		return "", fmt.Errorf("%s: %v: %s", strings.Join(s.Setup, " "), err, tail)
	}
	if err := os.WriteFile(filepath.Join(dir, ".wtb-setup-done"), out.Bytes(), 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

func (p *provider) release(hash string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.setups[hash]; ok {
		s.refs--
		if s.refs <= 0 {
			delete(p.setups, hash)
			if s.dir != "" && !p.keep {
				_ = os.RemoveAll(s.dir)
			}
		}
	}
}

func (p *provider) RuntimeEnv(_ context.Context, variantID string) (sdk.RuntimeEnv, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.envs[variantID]
	if !ok {
		return sdk.RuntimeEnv{}, false, nil
	}
	return e.runtime, true, nil
}

func (p *provider) CleanupEnvironment(_ context.Context, variantID string) error {
	p.mu.Lock()
	e, ok := p.envs[variantID]
	delete(p.envs, variantID)
	p.mu.Unlock()
	if ok {
		p.removeEnv(e)
	}
	return nil
}

func (p *provider) removeEnv(e *environment) {
	if !p.keep {
		_ = os.RemoveAll(e.dir)
	}
	p.release(e.specHash)
}

func (p *provider) Shutdown(context.Context) error {
	p.mu.Lock()
	envs := p.envs
	p.envs = map[string]*environment{}
	root, owns := p.root, p.ownsRoot
	p.mu.Unlock()
	for _, e := range envs {
		p.removeEnv(e)
	}
	if owns && !p.keep {
		return os.RemoveAll(root)
	}
	return nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._=-]+`)

func safeName(s string) string {
	if s == "" {
		return "default"
	}
	s = unsafeChars.ReplaceAllString(s, "_")
	if len(s) > 80 {
		sum := sha256.Sum256([]byte(s))
		s = s[:60] + "-" + hex.EncodeToString(sum[:])[:8]
	}
	return s
}

func safeFileName(name string) bool {
	clean := filepath.Clean(name)
	return name != "" && !filepath.IsAbs(clean) && clean != ".." && !strings.HasPrefix(clean, "../")
}
