package sched

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/sdk"
)

// createEnvironments prepares the runtime environment of every combination
// with executions left to run; combinations with equal environment settings
// share one. A failure fails that environment's executions, not the batch.
func (s *scheduler) createEnvironments(ctx context.Context) {
	for _, key := range spec.SortedKeys(s.tally.envKeys) {
		es := s.planner.EnvSpecs[key]
		if s.cfg.Env == nil {
			s.envs[key] = sdk.RuntimeEnv{WorkingDir: s.b.Dir}
			continue
		}
		env, diags, err := s.cfg.Env.Create(ctx, s.cfg.BatchID, es.Combination, es.Spec)
		if err == nil && diags.HasErrors() {
			err = errors.New(diags[0].Error())
		}
		if err != nil {
			s.envErrs[key] = fmt.Errorf("creating the environment for %s: %w", es.Combination, err)
			s.log.Error("environment setup failed", "combination", es.Combination, "error", err)
			continue
		}
		if env.WorkingDir == "" {
			env.WorkingDir = s.b.Dir
		}
		s.envs[key] = env
	}
}

func (s *scheduler) cleanupEnvironments() {
	if s.cfg.Env == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for key := range s.envs {
		if err := s.cfg.Env.Cleanup(ctx, s.planner.EnvSpecs[key].Combination); err != nil {
			s.log.Warn("environment cleanup failed", "combination", s.planner.EnvSpecs[key].Combination, "error", err)
		}
	}
}
