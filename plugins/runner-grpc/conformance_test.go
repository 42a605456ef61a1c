package main

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/wtbench/wtb/plugins/internal/plugintest"
	"github.com/wtbench/wtb/sdk/conformance"
)

// The gRPC runner passes the SDK's conformance kit against the reference
// wtb.remote.v1 service (examples/grpc-environment): every node of the kit
// runs in that service.
func TestConformance(t *testing.T) {
	addr := plugintest.RemoteServer(t)
	t.Setenv("WTB_TEST_REMOTE_TOKEN", plugintest.RemoteToken) // the plugin inherits the test's environment
	conformance.RunRunner(t, conformance.Runner{
		Binary:        plugintest.Build(t, "wtb-runner-grpc", "./plugins/runner-grpc"),
		Config:        json.RawMessage(fmt.Sprintf(`{"address": %q, "token_env": "WTB_TEST_REMOTE_TOKEN"}`, addr)),
		InvalidConfig: json.RawMessage(fmt.Sprintf(`{"address": %q, "token_env": "WTB_TEST_REMOTE_TOKEN", "call_timeout": "soon"}`, addr)),
		InvalidPath:   []string{"call_timeout"},
	})
}
