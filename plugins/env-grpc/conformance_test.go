package main

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/wtbench/wtb/plugins/internal/plugintest"
	"github.com/wtbench/wtb/sdk/conformance"
)

// The gRPC environment provider passes the SDK's conformance kit against the
// reference wtb.remote.v1 service (examples/grpc-environment), which makes
// the environments.
func TestConformance(t *testing.T) {
	addr := plugintest.RemoteServer(t)
	t.Setenv("WTB_TEST_REMOTE_TOKEN", plugintest.RemoteToken) // the plugin inherits the test's environment
	conformance.RunEnvironment(t, conformance.Environment{
		Binary:        plugintest.Build(t, "wtb-env-grpc", "./plugins/env-grpc"),
		Config:        json.RawMessage(fmt.Sprintf(`{"address": %q, "token_env": "WTB_TEST_REMOTE_TOKEN"}`, addr)),
		InvalidConfig: json.RawMessage(fmt.Sprintf(`{"address": %q, "token_env": "WTB_TEST_REMOTE_TOKEN", "retries": -1}`, addr)),
		InvalidPath:   []string{"retries"},
		Variant:       json.RawMessage(`{"env": {"B": "2"}}`),
	})
}
