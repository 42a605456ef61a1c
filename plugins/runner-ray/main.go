// Command wtb-runner-ray runs WTB batches on a Ray cluster.
//
// As a plugin (launched by wtb for `plugin = "ray"`) it starts a small Python
// driver that connects to the cluster and keeps a pool of execution actors;
// each actor runs segments through `wtb-runner-ray node-server`, this same
// binary shipped with the job, so nodes behave exactly as on every other
// runner.
package main

import (
	"os"

	"github.com/wtbench/wtb/sdk/serve"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "node-server" {
		os.Exit(runNodeServer(os.Args[2:]))
	}
	serve.Runner(&rayRunner{})
}
