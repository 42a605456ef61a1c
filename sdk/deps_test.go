package sdk_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSDKDependenciesStaySmall enforces that plugin authors who import the SDK
// compile only go-plugin, gRPC, protobuf, hclog and the standard library —
// never the host, its databases, HCL or Temporal (golang.org/x/sys is allowed).
func TestSDKDependenciesStaySmall(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/wtbench/wtb/host", "github.com/jackc/", "modernc.org/sqlite", "github.com/pressly/goose",
		"go.temporal.io/", "github.com/hashicorp/hcl", "github.com/zclconf/go-cty", "github.com/spf13/cobra",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("the SDK depends on %s", dep)
			}
		}
	}
}
