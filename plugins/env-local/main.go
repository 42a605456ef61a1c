// Command wtb-env-local is WTB's local environment provider: a private working
// directory per variant, a base environment merged with each variant's, and an
// optional setup command run once per distinct environment spec.
package main

import (
	"github.com/wtbench/wtb/sdk/serve"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

func main() {
	serve.Environment(newProvider())
}
