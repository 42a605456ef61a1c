// Command wtb-runner-temporal runs WTB batches on a Temporal cluster.
//
// As a plugin (launched by wtb for `plugin = "temporal"`) it starts one
// Temporal workflow per execution segment and streams the workflow's history
// back as node events. As `wtb-runner-temporal worker ...` it is the worker
// that executes those workflows' nodes; start as many as you like, on as many
// machines as you like.
package main

import (
	"os"

	"github.com/wtbench/wtb/sdk/serve"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		os.Exit(runWorker(os.Args[2:]))
	}
	serve.Runner(&temporalRunner{})
}
