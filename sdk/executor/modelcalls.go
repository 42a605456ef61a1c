package executor

import (
	"fmt"
	"os"
	"strings"

	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/gateway"
)

// nodeGateway is a node run's use of the model-call gateway: the run that
// collects its calls, and the configuration its processes get.
type nodeGateway struct {
	gw  *gateway.Gateway
	cfg *sdk.ModelCalls
	run *gateway.Run
}

// channel opens a way into the gateway bound to this node run, and the
// environment a process needs to use it. close ends it.
func (g *nodeGateway) channel(nodeEnv map[string]string) (env []string, close func(), err error) {
	ch, err := g.gw.NewChannel(g.cfg)
	if err != nil {
		return nil, nil, err
	}
	ch.Bind(g.run)
	for k, v := range ch.Env(nodeEnv, os.LookupEnv) {
		env = append(env, k+"="+v)
	}
	return env, ch.Close, nil
}

// withProblem decides how a node run ends when its model calls say it must
// fail (problem) and the node may have failed too (ne, nil when it
// succeeded). A replay miss or a recording over its limit wins over what the
// node did about it (its error is only a consequence); an upstream failure
// makes a node failure retryable infrastructure, never a score; a timeout or
// a cancel stays what it is.
func withProblem(node string, ne *NodeError, problem *gateway.Problem) *NodeError {
	if problem == nil {
		return ne
	}
	if ne != nil && (ne.Kind == sdk.FailureTimeout || ne.Kind == sdk.FailureCancelled) {
		return ne
	}
	out := &NodeError{Kind: problem.Kind, Retryable: problem.Retryable, Message: problem.Message}
	if ne != nil {
		out.ExitCode = ne.ExitCode
		// Its stderr most likely repeats the gateway's answer: leave it out.
		msg, _, _ := strings.Cut(ne.Message, "; stderr: ")
		out.Message += fmt.Sprintf("\n(the node then failed: %s)", firstLine(msg, 300))
	}
	return out
}

func firstLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// gatewayKey tells worker processes of different gateway configurations
// apart: a worker's environment (its base URLs) is fixed for its life.
func gatewayKey(cfg *sdk.ModelCalls) string {
	if cfg == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%v|%s", cfg.Mode, cfg.Proxy, cfg.OtherHosts)
	for _, u := range cfg.Upstreams {
		fmt.Fprintf(&b, "|%s=%s,%s,%s", u.Name, u.URL, u.BaseURLEnv, u.APIKeyEnv)
	}
	return b.String()
}
