package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func resolved(t *testing.T, raw string) (config, []string) {
	t.Helper()
	var c config
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, d := range c.resolve() {
		problems = append(problems, strings.Join(d.Path, ".")+": "+d.Summary)
	}
	return c, problems
}

// A preset fills what the block does not write; what it writes wins.
func TestPresetsFillOnlyWhatIsNotWritten(t *testing.T) {
	c, problems := resolved(t, `{"preset": "testing", "num_cpus_per_task": 2, "connect_timeout": "60s"}`)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if *c.NumCPUsPerTask != 2 || *c.MemoryPerTaskGB != 0.25 || *c.MaxPendingTasks != 4 || *c.MaxRetries != 1 || *c.Actors != 2 || *c.RayAddress != "auto" {
		t.Errorf("testing preset with num_cpus_per_task = 2: %+v", c)
	}
	// Writing a preset's own value, or zero, is still writing it.
	c, _ = resolved(t, `{"preset": "production", "max_retries": 0, "connect_timeout": "60s"}`)
	if *c.MaxRetries != 0 || *c.MaxPendingTasks != 100 || *c.MemoryPerTaskGB != 2 {
		t.Errorf("production with max_retries = 0: retries %d pending %d memory %g", *c.MaxRetries, *c.MaxPendingTasks, *c.MemoryPerTaskGB)
	}
	c, _ = resolved(t, `{"connect_timeout": "60s"}`)
	if c.Preset != "production" || *c.MaxPendingTasks != 100 {
		t.Errorf("no preset is production: %+v", c)
	}
}

func TestEveryProblemIsReported(t *testing.T) {
	_, problems := resolved(t, `{"preset": "fast", "max_pending_tasks": 0, "ray_address": "http://head:8265",
		"runtime_env": {"pips": ["x"]}, "connect_timeout": "soon"}`)
	got := strings.Join(problems, "\n")
	for _, want := range []string{"preset: unknown preset", "max_pending_tasks:", "ray_address: ray_address is a Ray Jobs (dashboard) address",
		"runtime_env: invalid runtime_env", "connect_timeout:"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}
